package dataset

import (
	"fmt"
	"io"
	"strings"
	"time"

	"gotrain/internal/progress"
)

// newProgressBar returns a bar for a download of total bytes (-1 if
// unknown) drawing on w, or nil, which draws nothing, if w is nil or not a
// terminal (a log file or pipe would fill up with redrawn lines).
func newProgressBar(w io.Writer, label string, total int64) *progress.Bar {
	if !progress.IsTerminal(w) {
		return nil
	}
	return progress.New(w, downloadBar(label, total))
}

// downloadBar configures a live download bar: redrawn at most five times a
// second, the first time on the first data after 200 ms, with the line of
// downloadMeter.
func downloadBar(label string, total int64) progress.Config {
	return progress.Config{
		Desc: label, Total: int(max(total, 0)), IsTerminal: true,
		MinInterval: 200 * time.Millisecond, Delay: 200 * time.Millisecond,
		Format: downloadMeter,
	}
}

// downloadMeter formats a download's line, counting bytes in MB:
// "label  25% [=======>      ] 1.0/4.0 MB  1.0 MB/s  ETA 3s".
func downloadMeter(s progress.Stats) string {
	const mb = 1 << 20
	elapsed := s.Elapsed.Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.N) / elapsed
	}
	if s.Total <= 0 {
		return fmt.Sprintf("%s %.1f MB  %.1f MB/s", s.Desc, float64(s.N)/mb, rate/mb)
	}
	frac := min(float64(s.N)/float64(s.Total), 1)
	const barWidth = 30
	full := int(frac * barWidth)
	bar := strings.Repeat("=", full)
	if full < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-full-1)
	}
	eta := ""
	if rate > 0 && s.N < s.Total {
		eta = fmt.Sprintf("  ETA %s", time.Duration(float64(s.Total-s.N)/rate*float64(time.Second)).Round(time.Second))
	}
	return fmt.Sprintf("%s %3.0f%% [%s] %.1f/%.1f MB  %.1f MB/s%s",
		s.Desc, frac*100, bar, float64(s.N)/mb, float64(s.Total)/mb, rate/mb, eta)
}
