// Package progress draws tqdm-style progress bars: one line, redrawn in
// place on a terminal, or written once when done on a pipe or a file. The
// trainer's per-epoch bar and the dataset's download bar are both a Bar;
// they differ only in the line they format.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal, where a Bar can redraw its
// line in place (and logs can be coloured); a pipe or a file is not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}

// Config configures a Bar.
type Config struct {
	// Desc is the text before the bar (tqdm's desc); SetDescription
	// changes it.
	Desc string
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
	// Delay, as tqdm's delay, holds the first draw in live mode back until
	// an Update at least Delay after the start; 0 draws the empty bar at
	// once.
	Delay time.Duration
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
	// Initial is the count the bar starts at (a resumed epoch's batches
	// already done); the rate counts only what follows, as tqdm's initial.
	Initial int
	// Format formats the line from the bar's state; nil means Meter, tqdm's
	// line.
	Format func(Stats) string
}

// Stats is what a Bar's line is formatted from.
type Stats struct {
	Desc    string
	N       int // iterations counted, Initial included
	Initial int // the count the bar started at
	Total   int // 0 or less: unknown
	Elapsed time.Duration
	Columns int // width of the whole line; 0: no limit
}

// Meter formats s as tqdm's format_meter does (see FormatMeter), counting
// the rate from s.Initial on.
func Meter(s Stats) string {
	return formatMeter(s.Desc, s.N, s.Initial, s.Total, s.Elapsed, s.Columns)
}

// Bar writes a progress line such as tqdm's
//
//	Loss=1.5408 Batch_id=390 Accuracy=34.36: 100%|██████████| 391/391 [05:29<00:00,  1.19it/s]
//
// Create one with New, call SetDescription and Update as work is done, and
// Close at the end. A nil *Bar draws nothing. A Bar is not safe for
// concurrent use.
type Bar struct {
	w           io.Writer
	total       int
	terminal    bool
	columns     int
	minInterval time.Duration
	delay       time.Duration
	now         func() time.Time
	format      func(Stats) string

	desc     string
	n        int
	initial  int
	start    time.Time
	lastDraw time.Time
	lastLen  int // display width of the last line drawn in live mode
	closed   bool
	err      error // first write error
}

// New starts a progress bar writing to w. In live mode without a Delay it
// draws the empty bar at once, as tqdm does.
func New(w io.Writer, cfg Config) *Bar {
	p := &Bar{
		w:           w,
		total:       cfg.Total,
		terminal:    cfg.IsTerminal,
		columns:     cfg.Columns,
		minInterval: cfg.MinInterval,
		delay:       cfg.Delay,
		now:         cfg.Now,
		format:      cfg.Format,
		desc:        cfg.Desc,
		n:           cfg.Initial,
		initial:     cfg.Initial,
	}
	if p.minInterval <= 0 {
		p.minInterval = 100 * time.Millisecond
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.format == nil {
		p.format = Meter
	}
	p.start = p.now()
	p.lastDraw = p.start
	if p.terminal && p.delay <= 0 {
		p.draw(p.start)
	}
	return p
}

// SetDescription sets the text before the bar (tqdm's set_description).
// It is shown at the next redraw.
func (p *Bar) SetDescription(desc string) {
	if p != nil {
		p.desc = desc
	}
}

// Update advances the count by n iterations and, in live mode, redraws the
// line if MinInterval has passed since the last redraw (and Delay since
// the start).
func (p *Bar) Update(n int) {
	if p == nil || p.closed {
		return
	}
	p.n += n
	if !p.terminal {
		return
	}
	if now := p.now(); now.Sub(p.lastDraw) >= p.minInterval && now.Sub(p.start) >= p.delay {
		p.draw(now)
	}
}

// N returns the number of iterations counted so far.
func (p *Bar) N() int {
	if p == nil {
		return 0
	}
	return p.n
}

// Close writes the final line followed by a newline (in live mode it
// replaces the line drawn last) and returns the first error met writing to
// the underlying writer. Later calls do nothing and return that error.
func (p *Bar) Close() error {
	if p == nil {
		return nil
	}
	if p.closed {
		return p.err
	}
	p.closed = true
	line := p.line(p.now())
	if p.terminal {
		p.write("\r" + padTo(line, p.lastLen) + "\n")
	} else {
		p.write(line + "\n")
	}
	return p.err
}

// line formats the line as of now.
func (p *Bar) line(now time.Time) string {
	return p.format(Stats{Desc: p.desc, N: p.n, Initial: p.initial, Total: p.total, Elapsed: now.Sub(p.start), Columns: p.columns})
}

// draw redraws the line in place.
func (p *Bar) draw(now time.Time) {
	line := p.line(now)
	p.write("\r" + padTo(line, p.lastLen))
	p.lastLen = displayWidth(line)
	p.lastDraw = now
}

func (p *Bar) write(s string) {
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
