package trainer

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestWarnLongStop: a stop of a run whose last step took longStep or more
// says how long it waits for the step in progress; after a short step it
// says nothing.
func TestWarnLongStop(t *testing.T) {
	for _, tc := range []struct {
		step time.Duration
		want string
	}{
		{3 * time.Second, "stopping after the current step (about 3 s)"},
		{longStep, "stopping after the current step (about 2 s)"},
		{longStep - time.Millisecond, ""},
		{0, ""},
	} {
		var buf bytes.Buffer
		log := logrus.New()
		log.SetOutput(&buf)
		r := &run{log: log}
		r.lastStep.Store(int64(tc.step))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { r.warnLongStop(); close(done) })
		cancel()
		<-done
		stop()
		got := buf.String()
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("last step %v: logged %q, want %q", tc.step, got, tc.want)
		}
	}
}
