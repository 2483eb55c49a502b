// Package tensorboard writes TensorBoard event files the way PyTorch's
// torch.utils.tensorboard.SummaryWriter does, so that
// `tensorboard --logdir runs` shows a run's scalars, images and text.
//
// An event file is a sequence of TFRecords, each an encoded Event protocol
// buffer (TensorBoard's event.proto) framed by its length and masked
// CRC-32C checksums. The first record of a file is the file_version event
// "brain.Event:2"; every other Event carries a wall time, a step and one
// Summary value.
//
// Crash safety: events are held in memory until Flush, which appends them
// to the file in one write and syncs it, so a crash loses at most the
// events since the last Flush and leaves every flushed record readable. A
// writer never reopens an existing file: each SummaryWriter starts a new
// file in its log directory, and TensorBoard reads all of them in name
// (creation-time) order as one run.
//
// Resuming: a run that restarts at step T in the same log directory passes
// Options{Purge: true, PurgeStep: T}, as SummaryWriter(purge_step=T) does.
// The new file then starts with a SessionLog START event at step T, and
// TensorBoard drops the events of earlier files at steps >= T, for every
// tag, so the steps the crashed run logged after its last checkpoint are
// not shown twice. Because the purge goes by step alone, all tags of a run
// should share one step axis (for example the global training step).
package tensorboard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// fileVersion is the file_version of the first Event of every file.
const fileVersion = "brain.Event:2"

// Options configures a SummaryWriter. The zero value writes a plain new
// event file.
type Options struct {
	// Purge makes the new file start with a SessionLog START event at
	// PurgeStep (SummaryWriter's purge_step), so that TensorBoard hides the
	// events of the directory's older files at steps >= PurgeStep: a run
	// resumed at step T passes T.
	Purge     bool
	PurgeStep int64
	// FilenameSuffix is appended to the event file's name
	// (filename_suffix).
	FilenameSuffix string
}

// SummaryWriter appends events to a new event file in a log directory. Its
// methods may be called from several goroutines.
type SummaryWriter struct {
	logdir string
	path   string

	mu     sync.Mutex
	f      *os.File
	buf    []byte // records not yet written to f
	err    error  // the first write error; the file's tail is then unknown
	closed bool
}

// fileUID numbers the files this process opens, as the global uid in
// TensorBoard's EventFileWriter does, so that two writers opened in the
// same second never share a name.
var fileUID atomic.Int64

// NewSummaryWriter creates logdir if needed and starts a new event file in
// it, named events.out.tfevents.<unix time>.<host>.<pid>.<n><suffix> as
// PyTorch names them. An empty logdir means runs/<date-time>_<host>, as
// SummaryWriter() without log_dir. The file_version event (and the purge
// events of opts) are on disk when it returns.
func NewSummaryWriter(logdir string, opts Options) (*SummaryWriter, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	now := time.Now()
	if logdir == "" {
		logdir = filepath.Join("runs", now.Format("Jan02_15-04-05")+"_"+host)
	}
	if err := os.MkdirAll(logdir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	name := fmt.Sprintf("events.out.tfevents.%010d.%s.%d.%d%s",
		now.Unix(), host, os.Getpid(), fileUID.Add(1)-1, opts.FilenameSuffix)
	path := filepath.Join(logdir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	w := &SummaryWriter{logdir: logdir, path: path, f: f}
	w.add(fileVersionEvent(wallTime(now), 0))
	if opts.Purge {
		// As SummaryWriter(purge_step=T): a file_version event and a
		// SessionLog START, both at step T.
		t := wallTime(time.Now())
		w.add(fileVersionEvent(t, opts.PurgeStep))
		w.add(sessionStartEvent(t, opts.PurgeStep))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return w, nil
}

// LogDir returns the directory the event file is in (get_logdir).
func (w *SummaryWriter) LogDir() string { return w.logdir }

// Path returns the event file's path.
func (w *SummaryWriter) Path() string { return w.path }

// AddScalar adds value as the scalar tag at step (add_scalar): a
// Summary.Value with simple_value, a float32.
func (w *SummaryWriter) AddScalar(tag string, value float64, step int64) {
	w.addSummary(step, scalarValue(tag, float32(value)))
}

// AddText adds text (Markdown) under tag at step (add_text): as PyTorch,
// the value's tag is tag+"/text_summary" and it holds a DT_STRING tensor
// of shape [1] for the "text" plugin.
func (w *SummaryWriter) AddText(tag, text string, step int64) {
	w.addSummary(step, textValue(tag+"/text_summary", text))
}

// AddImage adds img, encoded as PNG, as the image tag at step (add_image).
func (w *SummaryWriter) AddImage(tag string, img image.Image, step int64) error {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return fmt.Errorf("tensorboard: image %q: %w", tag, err)
	}
	return w.AddImagePNG(tag, b.Bytes(), step)
}

// AddImagePNG adds a PNG file's bytes as the image tag at step, with the
// height, width and colorspace (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) of
// its header.
func (w *SummaryWriter) AddImagePNG(tag string, data []byte, step int64) error {
	h, wd, cs, err := pngHeader(data)
	if err != nil {
		return fmt.Errorf("tensorboard: image %q: %w", tag, err)
	}
	w.addSummary(step, imageValue(tag, h, wd, cs, data))
	return nil
}

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// pngHeader returns the height, width and TensorBoard colorspace of a PNG
// file from its IHDR chunk.
func pngHeader(data []byte) (height, width, colorspace int, err error) {
	// Signature, then IHDR: length, "IHDR", width, height, bit depth,
	// color type, ...
	if len(data) < 33 || !bytes.Equal(data[:8], pngSignature) || string(data[12:16]) != "IHDR" {
		return 0, 0, 0, errors.New("not a PNG file")
	}
	wd := binary.BigEndian.Uint32(data[16:20])
	h := binary.BigEndian.Uint32(data[20:24])
	if wd == 0 || h == 0 || wd > math.MaxInt32 || h > math.MaxInt32 {
		return 0, 0, 0, fmt.Errorf("PNG of %dx%d pixels", wd, h)
	}
	switch data[25] {
	case 0: // grayscale
		colorspace = 1
	case 4: // grayscale and alpha
		colorspace = 2
	case 2, 3: // truecolor, palette
		colorspace = 3
	case 6: // truecolor and alpha
		colorspace = 4
	default:
		return 0, 0, 0, fmt.Errorf("PNG color type %d", data[25])
	}
	return int(h), int(wd), colorspace, nil
}

// addSummary adds an Event with the Summary.Value v at step, stamped now.
func (w *SummaryWriter) addSummary(step int64, v []byte) {
	w.add(summaryEvent(wallTime(time.Now()), step, v))
}

// add frames an encoded Event as a record and holds it until Flush.
func (w *SummaryWriter) add(ev []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		panic("tensorboard: event added to a closed SummaryWriter")
	}
	w.buf = appendRecord(w.buf, ev)
}

// Flush appends the events added since the last Flush to the file, whole
// records in one write, and syncs it to disk.
func (w *SummaryWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flush()
}

func (w *SummaryWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if len(w.buf) > 0 {
		if _, err := w.f.Write(w.buf); err != nil {
			w.err = fmt.Errorf("tensorboard: %w", err)
			return w.err
		}
		w.buf = w.buf[:0]
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("tensorboard: %w", err)
	}
	return w.err
}

// Close flushes the writer and closes its file. Adding events after Close
// panics; Close again returns nil.
func (w *SummaryWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.flush()
	w.closed = true
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("tensorboard: %w", cerr)
	}
	return err
}

// wallTime is t in seconds since the Unix epoch, as time.time().
func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
