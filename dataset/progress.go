package dataset

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws a one-line download progress bar, redrawn in place at
// most five times a second. A nil *progressBar draws nothing.
type progressBar struct {
	w     io.Writer
	label string
	total int64 // -1 if unknown
	n     int64
	start time.Time
	last  time.Time
	width int // of the last line drawn, to blank leftovers
}

// newProgressBar returns a bar drawing on w, or nil if w is nil or not a
// terminal (a log file or pipe would fill up with redrawn lines).
func newProgressBar(w io.Writer, label string, total int64) *progressBar {
	if !isTerminal(w) {
		return nil
	}
	now := time.Now()
	return &progressBar{w: w, label: label, total: total, start: now}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// add records n more bytes and redraws if it is time.
func (p *progressBar) add(n int) {
	if p == nil {
		return
	}
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.draw()
	}
}

// finish draws the final state and ends the line.
func (p *progressBar) finish() {
	if p == nil {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
}

func (p *progressBar) draw() {
	const mb = 1 << 20
	elapsed := time.Since(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.n) / elapsed
	}
	var line string
	if p.total > 0 {
		frac := min(float64(p.n)/float64(p.total), 1)
		const barWidth = 30
		full := int(frac * barWidth)
		bar := strings.Repeat("=", full)
		if full < barWidth {
			bar += ">" + strings.Repeat(" ", barWidth-full-1)
		}
		eta := ""
		if rate > 0 && p.n < p.total {
			eta = fmt.Sprintf("  ETA %s", time.Duration(float64(p.total-p.n)/rate*float64(time.Second)).Round(time.Second))
		}
		line = fmt.Sprintf("%s %3.0f%% [%s] %.1f/%.1f MB  %.1f MB/s%s",
			p.label, frac*100, bar, float64(p.n)/mb, float64(p.total)/mb, rate/mb, eta)
	} else {
		line = fmt.Sprintf("%s %.1f MB  %.1f MB/s", p.label, float64(p.n)/mb, rate/mb)
	}
	pad := max(0, p.width-len(line))
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}
