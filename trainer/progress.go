package trainer

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ProgressConfig configures a ProgressBar.
type ProgressConfig struct {
	// Total is the number of iterations expected (batches per epoch). If it
	// is 0 or the count overshoots it, the bar shows counts and rate only.
	Total int
	// IsTerminal selects live mode: the line is redrawn in place with '\r'
	// at most once per MinInterval. Otherwise (a pipe or a file) nothing is
	// written until Close, which writes the final line only.
	IsTerminal bool
	// Columns is the width of the whole line; the bar takes what the text
	// leaves. 0 gives a bar of 10 characters, as tqdm does without a width.
	Columns int
	// MinInterval is the least time between two redraws in live mode;
	// 0 means tqdm's default of 100 ms.
	MinInterval time.Duration
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
	// Initial is the count the bar starts at (a resumed epoch's batches
	// already done); the rate counts only what follows, as tqdm's initial.
	Initial int
}

// ProgressBar writes a tqdm-style progress line such as
//
//	Loss=1.5408 Batch_id=390 Accuracy=34.36: 100%|██████████| 391/391 [05:29<00:00,  1.19it/s]
//
// Create one per epoch with NewProgressBar, call SetDescription and Update
// for each batch, and Close at the end. A ProgressBar is not safe for
// concurrent use.
type ProgressBar struct {
	w           io.Writer
	total       int
	terminal    bool
	columns     int
	minInterval time.Duration
	now         func() time.Time

	desc     string
	n        int
	initial  int
	start    time.Time
	lastDraw time.Time
	lastLen  int // display width of the last line drawn in live mode
	closed   bool
	err      error // first write error
}

// NewProgressBar starts a progress bar writing to w. In live mode it
// draws the empty bar at once, as tqdm does.
func NewProgressBar(w io.Writer, cfg ProgressConfig) *ProgressBar {
	p := &ProgressBar{
		w:           w,
		total:       cfg.Total,
		terminal:    cfg.IsTerminal,
		columns:     cfg.Columns,
		minInterval: cfg.MinInterval,
		now:         cfg.Now,
		n:           cfg.Initial,
		initial:     cfg.Initial,
	}
	if p.minInterval <= 0 {
		p.minInterval = 100 * time.Millisecond
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.start = p.now()
	if p.terminal {
		p.draw(p.start)
	}
	return p
}

// SetDescription sets the text before the bar (tqdm's set_description),
// for example TrainDescription's result. It is shown at the next redraw.
func (p *ProgressBar) SetDescription(desc string) { p.desc = desc }

// Update advances the count by n iterations and, in live mode, redraws the
// line if MinInterval has passed since the last redraw.
func (p *ProgressBar) Update(n int) {
	if p.closed {
		return
	}
	p.n += n
	if !p.terminal {
		return
	}
	if now := p.now(); now.Sub(p.lastDraw) >= p.minInterval {
		p.draw(now)
	}
}

// N returns the number of iterations counted so far.
func (p *ProgressBar) N() int { return p.n }

// Close writes the final line followed by a newline (in live mode it
// replaces the line drawn last) and returns the first error met writing to
// the underlying writer. Later calls do nothing and return that error.
func (p *ProgressBar) Close() error {
	if p.closed {
		return p.err
	}
	p.closed = true
	now := p.now()
	line := formatMeter(p.desc, p.n, p.initial, p.total, now.Sub(p.start), p.columns)
	if p.terminal {
		p.write("\r" + padTo(line, p.lastLen) + "\n")
	} else {
		p.write(line + "\n")
	}
	return p.err
}

// draw redraws the line in place.
func (p *ProgressBar) draw(now time.Time) {
	line := formatMeter(p.desc, p.n, p.initial, p.total, now.Sub(p.start), p.columns)
	p.write("\r" + padTo(line, p.lastLen))
	p.lastLen = displayWidth(line)
	p.lastDraw = now
}

func (p *ProgressBar) write(s string) {
	if p.err != nil {
		return
	}
	if _, err := io.WriteString(p.w, s); err != nil {
		p.err = fmt.Errorf("progress bar: %w", err)
	}
}

// padTo pads line with spaces so that it covers a previous line of width
// prev, as tqdm does when a redraw is shorter than the line before.
func padTo(line string, prev int) string {
	if n := prev - displayWidth(line); n > 0 {
		return line + strings.Repeat(" ", n)
	}
	return line
}

// displayWidth counts runes; descriptions are expected to be ASCII and the
// bar's block characters are one column wide.
func displayWidth(s string) int { return utf8.RuneCountInString(s) }

// barChars are tqdm's Unicode bar characters: blank, then eighths of a
// block from one to eight.
var barChars = []rune(" ▏▎▍▌▋▊▉█")

// FormatMeter formats a progress line like tqdm's format_meter with unit
// "it": "desc: pct%|bar| n/total [elapsed<remaining, rate]". The rate is
// the mean over the elapsed time (tqdm with smoothing=0), shown as it/s,
// or as s/it when slower than one iteration per second. columns is the
// width of the whole line (0: a 10-character bar); text that does not fit
// is cut off. If total is not
// positive or n exceeds it, the line is "desc: nit [elapsed, rate]".
func FormatMeter(desc string, n, total int, elapsed time.Duration, columns int) string {
	return formatMeter(desc, n, 0, total, elapsed, columns)
}

// formatMeter is FormatMeter for a bar that started at initial (tqdm's
// initial=): the rate counts only the iterations done since.
func formatMeter(desc string, n, initial, total int, elapsed time.Duration, columns int) string {
	secs := elapsed.Seconds()
	var rate float64 // 0 means unknown, as tqdm's falsy rate
	if secs > 0 {
		rate = float64(n-initial) / secs
	}
	rateStr := "?it/s"
	switch {
	case rate > 0 && 1/rate > 1:
		rateStr = fmt.Sprintf("%5.2fs/it", 1/rate)
	case rate > 0:
		rateStr = fmt.Sprintf("%5.2fit/s", rate)
	}
	elapsedStr := FormatInterval(elapsed)
	prefix := ""
	if desc != "" {
		prefix = desc + ": "
	}
	if total <= 0 || n > total {
		return fmt.Sprintf("%s%dit [%s, %s]", prefix, n, elapsedStr, rateStr)
	}

	remaining := "?"
	if rate > 0 {
		remaining = formatSeconds(float64(total-n) / rate)
	}
	frac := float64(n) / float64(total)
	left := fmt.Sprintf("%s%3.0f%%|", prefix, frac*100)
	right := fmt.Sprintf("| %d/%d [%s<%s, %s]", n, total, elapsedStr, remaining, rateStr)
	if columns <= 0 {
		return left + formatBar(frac, 10) + right
	}
	width := max(1, columns-displayWidth(left)-displayWidth(right))
	return trimTo(left+formatBar(frac, width)+right, columns)
}

// trimTo cuts s to at most columns runes, as tqdm cuts a line that does
// not fit its width (a wrapped line would defeat the '\r' redraw).
func trimTo(s string, columns int) string {
	if displayWidth(s) <= columns {
		return s
	}
	return string([]rune(s)[:columns])
}

// formatBar draws a bar of width characters filled to frac, with eighths
// of a block for the partly filled character, as tqdm's Bar does.
func formatBar(frac float64, width int) string {
	nsyms := len(barChars) - 1
	ticks := int(frac * float64(width) * float64(nsyms))
	full, part := ticks/nsyms, ticks%nsyms
	var b strings.Builder
	b.WriteString(strings.Repeat(string(barChars[nsyms]), full))
	if full < width {
		b.WriteRune(barChars[part])
		b.WriteString(strings.Repeat(" ", width-full-1))
	}
	return b.String()
}

// FormatInterval formats a duration as tqdm's format_interval does:
// whole seconds (truncated) as MM:SS, or H:MM:SS from one hour on.
func FormatInterval(d time.Duration) string { return formatSeconds(d.Seconds()) }

func formatSeconds(secs float64) string {
	s := int(secs)
	m, s := s/60, s%60
	h, m := m/60, m%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", m, s)
}

// TrainDescription formats the seed project's per-batch description,
// e.g. "Loss=1.5408 Batch_id=390 Accuracy=34.36", with accuracy in percent.
func TrainDescription(loss float64, batchID int, accuracy float64) string {
	return fmt.Sprintf("Loss=%.4f Batch_id=%d Accuracy=%.2f", loss, batchID, accuracy)
}

// EvalSummary formats the seed project's evaluation line, e.g.
// "Test set: Average loss: 1.5822, Accuracy: 4131/10000 (41.31%)".
func EvalSummary(loss float64, correct, total int) string {
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(correct) / float64(total)
	}
	return fmt.Sprintf("Test set: Average loss: %.4f, Accuracy: %d/%d (%.2f%%)", loss, correct, total, pct)
}
