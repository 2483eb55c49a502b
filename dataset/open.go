package dataset

import (
	"context"
	"fmt"
	"os"
)

// Open reads the data set at src as the trainer's commands take a data
// location: a folder (cached in itself) or an archive (cached in ./data,
// as the archive's folder may be read-only), or, when src is empty, ./data,
// downloaded first if it holds no data set (with its progress on stderr).
func Open(ctx context.Context, src string, opts ...Option) (train, test *Set, err error) {
	cacheDir := src
	if src == "" {
		src, cacheDir = "data", "data"
		if err := Ensure(ctx, src, append(opts, WithProgress(os.Stderr))...); err != nil {
			return nil, nil, err
		}
	} else if st, err := os.Stat(src); err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	} else if !st.IsDir() {
		cacheDir = "data"
	}
	return Load(src, cacheDir, opts...)
}
