package dataset

import (
	"io"
	"net/http"
)

// Logger receives the package's progress messages. *log.Logger,
// *logrus.Logger and *logrus.Entry satisfy it.
type Logger interface {
	Printf(format string, args ...any)
}

// LoggerFunc adapts a printf-like function (t.Logf, for one) to Logger.
type LoggerFunc func(format string, args ...any)

// Printf calls f.
func (f LoggerFunc) Printf(format string, args ...any) { f(format, args...) }

// Option configures Load, Ensure and Download. Options that do not concern a
// function are ignored by it.
type Option func(*options)

type options struct {
	log      Logger
	progress io.Writer
	workers  int
	url      string
	md5      string
	client   *http.Client
	lim      limits
}

func newOptions(opts []Option) *options {
	o := &options{url: OfficialURL, md5: OfficialMD5}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

func (o *options) logf(format string, args ...any) {
	if o.log != nil {
		o.log.Printf(format, args...)
	}
}

// warnSizes logs a warning when a split's size is far (over 10%) from
// CIFAR-10's, which usually means incomplete or foreign data.
func (o *options) warnSizes(where string, train, test int) {
	far := func(n, want int) bool { return n < want*9/10 || n > want*11/10 }
	if far(train, TrainSize) || far(test, TestSize) {
		o.logf("dataset: warning: %s holds %d training and %d test images; CIFAR-10 has %d and %d",
			where, train, test, TrainSize, TestSize)
	}
}

// WithLogger sends progress messages (what is read, cache use, download
// start and end) to l. By default the package is silent.
func WithLogger(l Logger) Option { return func(o *options) { o.log = l } }

// WithProgress draws a download progress bar on w (os.Stderr, typically).
// The bar is drawn only if w is a terminal; otherwise only the logger hears
// of the download. By default no bar is drawn.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

// WithWorkers sets the number of goroutines decoding images; n < 1 means one
// per CPU (GOMAXPROCS), the default.
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// WithDownloadURL makes Download and Ensure fetch url and check that the
// file's MD5 is md5sum (lower-case hex) instead of the official archive's;
// an empty md5sum skips the check. The file keeps the URL path's last
// element as name.
func WithDownloadURL(url, md5sum string) Option {
	return func(o *options) { o.url, o.md5 = url, md5sum }
}

// WithHTTPClient makes downloads use c instead of a client with sensible
// connection timeouts.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }
