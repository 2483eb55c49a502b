package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"gotrain/internal/progress"
	"gotrain/trainer"
	"gotrain/trainer/cv"
)

// tensorBoardFrom returns trainer.Config's TensorBoard for the flags: the
// default (within the output folder, which it follows when a run is
// moved), none for "off" (or ""), else the folder given, made absolute.
func tensorBoardFrom(c *cli.Context) string {
	v := c.String("tensorboard")
	switch {
	case !c.IsSet("tensorboard"):
		return trainer.DefaultConfig().TensorBoard
	case v == "off" || v == "":
		return ""
	}
	if abs, err := filepath.Abs(v); err == nil {
		return abs
	}
	return v
}

// defaultCVOut is cv's -out.
const defaultCVOut = "runs/cv"

func cvCommand(log *logrus.Logger, stop *stopper) *cli.Command {
	var flags []cli.Flag
	for _, f := range trainFlags(trainer.DefaultConfig()) {
		switch f.Names()[0] {
		case "resume", "init-from":
			continue
		case "out":
			f = &cli.StringFlag{Name: "out", Value: defaultCVOut, Usage: "output folder: cv.csv, cv.json and a run folder fold-K per fold"}
		case "overwrite":
			f = &cli.BoolFlag{Name: "overwrite", Usage: "start a new cross-validation in an -out folder that holds another one " +
				"(finished or failed), removing its files and fold folders"}
		}
		flags = append(flags, f)
	}
	flags = append(flags,
		&cli.IntFlag{Name: "folds", Value: 5, Usage: "number of stratified folds of the training set"},
		&cli.StringFlag{Name: "resume", Usage: "continue the cross-validation in this output folder: finished folds are skipped, an interrupted one resumes (its training settings are reused; only " + resumeFlagsText(allOptions()) + " and the log flags may be given with it)"},
		&cli.IntFlag{Name: "trial", Usage: "train only fold I+1, as task I of a job array (default: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX where set); then -collect"},
		&cli.BoolFlag{Name: "collect", Usage: "only test the folds of the cross-validation in -out (or -resume), all finished, and write its table"},
	)
	return &cli.Command{
		Name:  "cv",
		Usage: "K-fold cross-validation: train on stratified folds of the training set, then test each fold's network",
		UsageText: "trainer cv -folds K [training flags] [-out DIR] [-trial I]\n" +
			"trainer cv -resume DIR\n" +
			"trainer cv -collect -out DIR",
		Description: "Fold k trains a normal run in DIR/fold-k on the other folds' images, with its held-out fold as the\n" +
			"test pass of every epoch. When all folds are done, each fold's final network is tested once on the\n" +
			"test set, and DIR/cv.csv and DIR/cv.json give each fold's validation and test accuracy, and their\n" +
			"mean and sample standard deviation (ddof=1). The folds depend only on the training set, -folds and -seed.",
		Flags: flags,
		Action: func(c *cli.Context) error {
			// As training: the first signal stops the fold in progress
			// with a checkpoint, a second one exits at once.
			stop.stopCleanly()
			return cvAction(c, log)
		},
	}
}

func cvAction(c *cli.Context, log *logrus.Logger) error {
	if err := noArgs(c); err != nil {
		return err
	}
	cfg := configFrom(c)
	resume := c.String("resume")
	opts := trainer.Options{Log: log, Progress: os.Stdout, IsTerminal: progress.IsTerminal(os.Stdout),
		Override: resumeOverride(c, cfg, false)}
	if c.Bool("collect") {
		dir := resume
		if dir == "" {
			dir = cfg.Out
		}
		res, err := cv.Collect(c.Context, dir, opts)
		if err != nil {
			return err
		}
		return res.WriteTable(os.Stdout)
	}
	trial, single, err := arrayTask(c, "cv")
	if err != nil {
		return err
	}
	if single && resume == "" {
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
		if k := c.Int("folds"); trial >= k || k < 2 {
			return usagef("cv: -trial %d: a %d-fold cross-validation has trials 0 to %d", trial, k, k-1)
		}
		err := cv.RunFold(c.Context, cv.Config{Folds: c.Int("folds"), Config: cfg}, trial+1, opts)
		if fe := new(cv.FoldsError); errors.As(err, &fe) {
			return usageError{err}
		}
		return err
	}
	if resume == "" {
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
		if k := c.Int("folds"); k < 2 {
			return usagef("cv: -folds must be at least 2, got %d", k)
		} else if n := cfg.TrainLimit; n > 0 && k > n {
			return usagef("cv: -folds %d is more than the %d training images of -train-limit: each fold needs at least one", k, n)
		}
	} else if err := checkResumeFlags(c, c.Command.Flags, "cross-validation", cfg); err != nil {
		return err
	}
	opts.Resume, opts.Overwrite = resume, c.Bool("overwrite")
	res, err := cv.Run(c.Context, cv.Config{Folds: c.Int("folds"), Config: cfg}, opts)
	if fe := new(cv.FoldsError); errors.As(err, &fe) {
		return usageError{err} // a bound that needed the data's size
	}
	if err != nil {
		return err
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	log.Infof("cross-validation done: test accuracy %.2f ± %.2f%% over %d folds; outputs in %s",
		res.Mean.TestAcc, res.Std.TestAcc, len(res.Folds), res.OutDir)
	return nil
}
