package progress

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// The expected lines were worked by hand (rates, intervals, eighths of the
// bar) and agree with tqdm 4.64.1's tqdm.format_meter(n, total, elapsed,
// ncols=columns, prefix=desc) for the same arguments.
func TestFormatMeter(t *testing.T) {
	for _, c := range []struct {
		desc     string
		n, total int
		elapsed  float64
		columns  int
		want     string
		comment  string
	}{
		{"Loss=1.5408 Batch_id=390 Accuracy=34.36", 391, 391, 329, 0,
			"Loss=1.5408 Batch_id=390 Accuracy=34.36: 100%|██████████| 391/391 [05:29<00:00,  1.19it/s]",
			"seed log, epoch 1: 391/329 = 1.188 it/s"},
		{"Loss=0.9255 Batch_id=390 Accuracy=65.99", 391, 391, 391 * 12.42, 0,
			"Loss=0.9255 Batch_id=390 Accuracy=65.99: 100%|██████████| 391/391 [1:20:56<00:00, 12.42s/it]",
			"seed log, epoch 5: slower than 1 it/s shows s/it; 4856.22 s is 1:20:56"},
		{"", 100, 391, 50, 0,
			" 26%|██▌       | 100/391 [00:50<02:25,  2.00it/s]",
			"25.6% of 80 eighths = 20: two full blocks and a half; 291/2 s left"},
		{"", 0, 391, 0, 0,
			"  0%|          | 0/391 [00:00<?, ?it/s]",
			"no rate yet"},
		{"", 390, 391, 3599.9, 0,
			"100%|█████████▉| 390/391 [59:59<00:09,  9.23s/it]",
			"99.7% rounds to 100 but the bar shows 79/80 eighths; 3599.9 s truncates to 59:59"},
		{"", 3, 391, 3, 0,
			"  1%|          | 3/391 [00:03<06:28,  1.00it/s]",
			"exactly 1 it/s stays it/s"},
		{"", 1, 391, 2, 0,
			"  0%|          | 1/391 [00:02<13:00,  2.00s/it]",
			"0.5 it/s: 780 s left"},
		{"x", 5, 0, 2, 0,
			"x: 5it [00:02,  2.50it/s]",
			"no total"},
		{"d", 392, 391, 10, 0,
			"d: 392it [00:10, 39.20it/s]",
			"overshooting the total drops the bar"},
		{"Loss=1", 100, 391, 50, 80,
			"Loss=1:  26%|████████▍                        | 100/391 [00:50<02:25,  2.00it/s]",
			"80 columns: the bar gets 33, 25.6% of 264 eighths = 67 = 8 blocks + 3"},
		{"", 391, 391, 10, 20,
			"100%|█| 391/391 [00:",
			"too narrow: one-character bar, then cut to 20 columns"},
	} {
		got := FormatMeter(c.desc, c.n, c.total, secs(c.elapsed), c.columns)
		if got != c.want {
			t.Errorf("FormatMeter(%q, %d, %d, %v, %d) (%s)\n got %q\nwant %q",
				c.desc, c.n, c.total, c.elapsed, c.columns, c.comment, got, c.want)
		}
		if c.columns > 0 && displayWidth(got) > c.columns {
			t.Errorf("line %q wider than %d columns", got, c.columns)
		}
	}
}

func TestBarCharacters(t *testing.T) {
	// tqdm's charset: blank, then U+258F (one eighth) down to U+2588 (full).
	want := []rune{' ', '\u258f', '\u258e', '\u258d', '\u258c', '\u258b', '\u258a', '\u2589', '\u2588'}
	if string(barChars) != string(want) {
		t.Fatalf("barChars = %q, want %q", string(barChars), string(want))
	}
	for eighths := 0; eighths <= 16; eighths++ {
		got := formatBar(float64(eighths)/16, 2)
		if displayWidth(got) != 2 {
			t.Errorf("formatBar(%d/16, 2) = %q is not 2 wide", eighths, got)
		}
		r := []rune(got)
		if eighths >= 8 && r[0] != want[8] || eighths < 8 && r[0] != want[eighths] {
			t.Errorf("formatBar(%d/16, 2) = %q", eighths, got)
		}
	}
}

func TestFormatInterval(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00"},
		{secs(59.999), "00:59"},
		{secs(61), "01:01"},
		{secs(3599), "59:59"},
		{secs(3600), "1:00:00"},
		{secs(36061), "10:01:01"},
	} {
		if got := FormatInterval(c.d); got != c.want {
			t.Errorf("FormatInterval(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// fakeClock advances only when told to.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestProgressBarPipeWritesOnlyFinalLine(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := &fakeClock{t: start}
	var buf bytes.Buffer
	p := New(&buf, Config{Total: 391, Now: clk.now})
	for i := range 391 {
		clk.advance(secs(329.0 / 391))
		p.SetDescription(fmt.Sprintf("Loss=1.5408 Batch_id=%d Accuracy=34.36", i))
		p.Update(1)
		if buf.Len() != 0 {
			t.Fatalf("pipe mode wrote %q during the epoch (batch %d)", buf.String(), i)
		}
	}
	clk.t = start.Add(329 * time.Second) // undo the truncation of 329/391 s
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	want := "Loss=1.5408 Batch_id=390 Accuracy=34.36: 100%|██████████| 391/391 [05:29<00:00,  1.19it/s]\n"
	if buf.String() != want {
		t.Errorf("pipe output\n got %q\nwant %q", buf.String(), want)
	}
	if err := p.Close(); err != nil || buf.String() != want {
		t.Errorf("second Close wrote more or failed: %v %q", err, buf.String())
	}
}

func TestProgressBarTerminalRedrawRate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var buf bytes.Buffer
	p := New(&buf, Config{Total: 100, IsTerminal: true, Now: clk.now})
	// 100 updates 30 ms apart over 3 s: with a 100 ms limit, at most one
	// redraw per 100 ms (plus the initial draw and the final line).
	for range 100 {
		clk.advance(30 * time.Millisecond)
		p.Update(1)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	draws := strings.Count(out, "\r")
	if draws < 25 || draws > 32 {
		t.Errorf("%d redraws for 3 s of updates, want about 30 (10 Hz)", draws)
	}
	if !strings.HasPrefix(out, "\r  0%|          | 0/100 [00:00<?, ?it/s]") {
		t.Errorf("output does not start with the empty bar: %q", out[:min(len(out), 60)])
	}
	final := "\r100%|██████████| 100/100 [00:03<00:00, 33.33it/s]\n"
	if !strings.HasSuffix(out, final) {
		t.Errorf("output does not end with the final line %q: ...%q", final, out[max(0, len(out)-80):])
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("terminal mode wrote %d newlines, want 1", strings.Count(out, "\n"))
	}
}

func TestProgressBarTerminalPadsShorterLine(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var buf bytes.Buffer
	p := New(&buf, Config{Total: 10, IsTerminal: true, Now: clk.now})
	p.SetDescription("a long description")
	clk.advance(time.Second)
	p.Update(1)
	p.SetDescription("short")
	clk.advance(time.Second)
	p.Update(1)
	draws := strings.Split(buf.String(), "\r")[1:]
	if len(draws) != 3 {
		t.Fatalf("got %d draws, want 3: %q", len(draws), buf.String())
	}
	if displayWidth(draws[2]) != displayWidth(draws[1]) || !strings.HasSuffix(draws[2], "             ") {
		t.Errorf("shorter redraw %q not padded to cover %q", draws[2], draws[1])
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestProgressBarWriteError(t *testing.T) {
	p := New(failWriter{}, Config{Total: 3})
	p.Update(3)
	if err := p.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v, want the write error", err)
	}
}

// TestProgressInitial checks a bar that starts part-way (a resumed epoch):
// the rate counts only the iterations since, as tqdm's initial= does.
func TestProgressInitial(t *testing.T) {
	// 38 batches in 10 s: 3.80 it/s; 0 left.
	got := formatMeter("", 391, 353, 391, 10*time.Second, 0)
	want := "100%|██████████| 391/391 [00:10<00:00,  3.80it/s]"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Half-way through the rest: 19 done in 5 s, 19 left at 3.8 it/s.
	got = formatMeter("", 372, 353, 391, 5*time.Second, 0)
	if !strings.Contains(got, "372/391 [00:05<00:05,  3.80it/s]") {
		t.Errorf("got %q", got)
	}
}
