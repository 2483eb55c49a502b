package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"gotrain/dataset"
	"gotrain/infer"
	"gotrain/model"
	"gotrain/model/onnx"
	"gotrain/plots"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/trainer"
	"gotrain/transforms"
)

func modelList() string {
	var parts []string
	for _, n := range model.Names() {
		parts = append(parts, n+" ("+model.Describe(n)+")")
	}
	return strings.Join(parts, "; ") + "; default " + model.Default
}

func weightsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "weights", Aliases: []string{"w"}, Usage: "checkpoint, state_dict or TorchScript file (required)"},
		&cli.StringFlag{Name: "model", Usage: "network of the weights (default: the checkpoint's, else " + model.Default + ")"},
		&cli.StringFlag{Name: "device", Value: "auto", Usage: "auto, cpu, cuda or cuda:N"},
		threadsFlag(),
	}
}

// requireFlags returns a usage error naming the first of the flags that is
// empty. (cli's own Required flags fail outside OnUsageError, with exit 1.)
func requireFlags(c *cli.Context, names ...string) error {
	for _, n := range names {
		if c.String(n) == "" {
			return usagef("%s: -%s is required", c.Command.Name, n)
		}
	}
	return nil
}

// noArgs returns a usage error if the command was given arguments.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("%s: unexpected argument %q (it takes only flags)", c.Command.Name, c.Args().First())
	}
	return nil
}

// openNet loads the weights named by the flags onto the requested device.
func openNet(c *cli.Context, log *logrus.Logger) (*model.Net, torch.Device, error) {
	if err := requireFlags(c, "weights"); err != nil {
		return nil, torch.CPU, err
	}
	threads := intOr(c, "threads", torch.DeviceDefaultsFor(c.String("device")).Threads)
	if threads < 1 {
		return nil, torch.CPU, usagef("threads must be at least 1, got %d", threads)
	}
	if err := checkThreads(threads); err != nil {
		return nil, torch.CPU, err
	}
	torch.SetNumThreads(threads)
	dev, err := torch.ResolveDevice(c.String("device"))
	if err != nil {
		return nil, dev, usageError{err}
	}
	net, err := infer.LoadNet(c.String("weights"), c.String("model"), log)
	if err != nil {
		return nil, dev, err
	}
	if err := nn.To(net, dev); err != nil {
		nn.Free(net)
		return nil, dev, err
	}
	return net, dev, nil
}

func evaluateCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "evaluate",
		Usage:     "test a weights file: accuracy, per-class accuracy, confusion matrix",
		UsageText: "trainer evaluate -weights FILE [-data PATH] [-tta] [-tta-translate] [-confusion-png FILE] [-json]",
		Flags: append(append(weightsFlags(), evalFlags()...),
			&cli.StringFlag{Name: "confusion-png", Usage: "also plot the confusion matrix to this PNG file"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			workers := intOr(c, "workers", torch.DeviceDefaultsFor(c.String("device")).Workers)
			if c.Int("batch-size") < 1 || c.Int("test-limit") < 0 || workers < 1 {
				return usagef("batch size and workers must be positive and the test limit not negative")
			}
			net, dev, err := openNet(c, log)
			if err != nil {
				return err
			}
			defer nn.Free(net)
			l, err := testLoader(c, workers, log)
			if err != nil {
				return err
			}
			defer l.Close()
			ev, err := infer.Evaluate(net, l, dev, evalOptions(c))
			if err != nil {
				return err
			}
			if p := c.String("confusion-png"); p != "" {
				if err := plots.ConfusionMatrix(p, ev.Confusion, dataset.Classes); err != nil {
					return err
				}
			}
			if c.Bool("json") {
				return json.NewEncoder(os.Stdout).Encode(map[string]any{
					"model": net.Name, "weights": c.String("weights"), "loss": finiteOrNil(ev.Loss), "correct": ev.Correct,
					"total": ev.Total, "accuracy": ev.Accuracy(), "class_accuracy": classMap(ev.ClassAccuracy()),
					"confusion": ev.Confusion, "classes": dataset.Classes,
				})
			}
			fmt.Println(trainer.EvalSummary(ev.Loss, ev.Correct, ev.Total))
			printClassTable(ev)
			return nil
		},
	}
}

// finiteOrNil returns v, or nil (JSON null) for NaN and infinities, which
// encoding/json refuses.
func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func classMap(acc []float64) map[string]float64 {
	m := make(map[string]float64, len(acc))
	for i, a := range acc {
		m[dataset.Classes[i]] = a
	}
	return m
}

func printClassTable(ev *infer.Evaluation) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "true \\ predicted\t")
	for _, name := range dataset.Classes {
		fmt.Fprintf(w, "%s\t", abbrev(name))
	}
	fmt.Fprint(w, "accuracy\t\n")
	acc := ev.ClassAccuracy()
	for i, row := range ev.Confusion {
		fmt.Fprintf(w, "%s\t", dataset.Classes[i])
		for _, v := range row {
			fmt.Fprintf(w, "%d\t", v)
		}
		fmt.Fprintf(w, "%.2f%%\t\n", acc[i])
	}
	w.Flush()
}

func abbrev(s string) string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

func predictCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "predict",
		Usage:     "classify image files (PNG or JPEG; resized to 32x32 if needed)",
		UsageText: "trainer predict -weights FILE [-top-k 3] IMAGE...",
		Flags: append(weightsFlags(),
			&cli.IntFlag{Name: "top-k", Value: 3, Usage: "number of classes to show per image"},
			&cli.IntFlag{Name: "max-pixels", Value: infer.DefaultMaxPixels, Usage: fmt.Sprintf("refuse images of more pixels than this (as PIL's MAX_IMAGE_PIXELS), "+
				"read from the file's header before decoding; 0: no limit but the hard one, %d pixels (4 to 8 GiB decoded), which no value exceeds", infer.MaxDecodePixels)},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("predict: no image files given")
			}
			if k := c.Int("top-k"); k < 1 || k > len(dataset.Classes) {
				return usagef("predict: -top-k must be in [1, %d], got %d", len(dataset.Classes), k)
			}
			maxPixels := c.Int("max-pixels")
			if maxPixels < 0 {
				return usagef("predict: -max-pixels must not be negative, got %d", maxPixels)
			}
			if maxPixels > infer.MaxDecodePixels {
				return usagef("predict: -max-pixels must be at most %d (the hard limit), got %d", infer.MaxDecodePixels, maxPixels)
			}
			for _, p := range c.Args().Slice() {
				if st, err := os.Stat(p); err == nil && st.IsDir() {
					return usagef("predict: %s is a directory; give the image files (PNG or JPEG) themselves, such as %s", p, filepath.Join(p, "*.png"))
				}
			}
			net, _, err := openNet(c, log)
			if err != nil {
				return err
			}
			defer nn.Free(net)
			preds, err := infer.Predict(net, c.Args().Slice(), c.Int("top-k"), maxPixels)
			if errors.Is(err, infer.ErrTooManyPixels) && maxPixels > 0 && maxPixels < infer.MaxDecodePixels {
				return fmt.Errorf("%w; -max-pixels raises the limit", err)
			}
			if err != nil {
				return err
			}
			for i, p := range c.Args().Slice() {
				var parts []string
				for _, pr := range preds[i] {
					parts = append(parts, fmt.Sprintf("%s %.2f%%", pr.Name, 100*pr.Probability))
				}
				fmt.Printf("%s: %s\n", p, strings.Join(parts, ", "))
			}
			return nil
		},
	}
}

func summaryCommand() *cli.Command {
	return &cli.Command{
		Name:      "summary",
		Usage:     "print a network's torchinfo-style summary, receptive field and the seed's rules",
		UsageText: "trainer summary [-model NAME] [-dropout P]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Value: model.Default, Usage: "network: " + modelList()},
			&cli.Float64Flag{Name: "dropout", Value: trainer.DefaultConfig().Dropout, Usage: "dropout probability"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			net, err := model.New(c.String("model"), model.Options{Dropout: c.Float64("dropout")})
			if err != nil {
				return usageError{err}
			}
			defer nn.Free(net)
			s, err := model.Summarize(net)
			if err != nil {
				return err
			}
			fmt.Print(s.String())
			return nil
		},
	}
}

func exportCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write weights as a PyTorch state_dict (torch.load), TorchScript (torch.jit.load) or ONNX file",
		UsageText: "trainer export -weights FILE -format state_dict|torchscript|onnx [-dropout P] -o OUT",
		Flags: append(weightsFlags()[:2],
			&cli.StringFlag{Name: "format", Value: "state_dict", Usage: "state_dict, torchscript or onnx (opset 13, docs/FORMATS.md)"},
			&cli.StringFlag{Name: "o", Aliases: []string{"output"}, Usage: "output file (required)"},
			&cli.Float64Flag{Name: "dropout", Usage: fmt.Sprintf("dropout probability of the TorchScript module once put back in train mode "+
				"(default: the checkpoint's recorded -dropout, else the seed's %v)", infer.DefaultDropout)},
		),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if err := requireFlags(c, "weights", "o"); err != nil {
				return err
			}
			format := c.String("format")
			if format != "state_dict" && format != "torchscript" && format != "onnx" {
				return usagef("export: bad -format %q: want state_dict, torchscript or onnx", format)
			}
			o := infer.LoadOptions{Model: c.String("model")}
			if c.IsSet("dropout") {
				p := c.Float64("dropout")
				if !(p >= 0 && p < 1) {
					return usagef("export: -dropout must be in [0, 1), got %v", p)
				}
				o.Dropout = &p
			}
			out := c.String("o")
			if st, err := os.Stat(out); err == nil && st.IsDir() {
				return usagef("export: -o %s is a directory; give the path of the file to write (such as %s)", out, filepath.Join(out, "model.pt"))
			}
			net, err := infer.LoadNetWith(c.String("weights"), o, log)
			if err != nil {
				return err
			}
			defer nn.Free(net)
			if dir := filepath.Dir(out); dir != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("export: output folder for %s: %w", out, err)
				}
			}
			switch format {
			case "torchscript":
				err = nn.SaveTorchScript(out, net)
			case "onnx":
				err = onnx.Save(out, net, onnx.Options{Classes: dataset.Classes,
					Mean: transforms.CIFAR10Mean[:], Std: transforms.CIFAR10Std[:]})
			default:
				err = torch.Save(out, nn.StateDict(net))
			}
			if err != nil {
				return err
			}
			log.Infof("wrote %s (%s, model %s)", out, format, net.Name)
			return nil
		},
	}
}

// testLoader reads the test set that -data names (the first -test-limit
// images, if set) and returns a loader of it in -batch-size batches, as
// the evaluating commands use it.
func testLoader(c *cli.Context, workers int, log *logrus.Logger) (*dataset.Loader, error) {
	set, err := infer.LoadTestSet(c.Context, c.String("data"), c.Int("test-limit"), workers, log)
	if err != nil {
		return nil, err
	}
	return dataset.NewLoader(set, transforms.SeedTest(), dataset.LoaderConfig{BatchSize: c.Int("batch-size"), Workers: workers})
}

// evalFlags are the flags of the commands that test weights on the test
// set: testLoader's and evalOptions'.
func evalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Usage: "CIFAR-10 folder or archive (default ./data, downloaded if missing)"},
		&cli.IntFlag{Name: "test-limit", Usage: "use only N test images, spread over the classes"},
		&cli.IntFlag{Name: "batch-size", Value: 500, Usage: "images per batch"},
		workersFlag(),
		&cli.BoolFlag{Name: "tta", Usage: flipUsage},
		&cli.BoolFlag{Name: "tta-translate", Usage: translateUsage},
	}
}

// evalOptions are the evaluating commands' test-pass options: the
// device's input layout, -tta and -tta-translate.
func evalOptions(c *cli.Context) infer.EvalOptions {
	return infer.EvalOptions{ChannelsLast: torch.DeviceDefaultsFor(c.String("device")).ChannelsLast,
		FlipTTA: c.Bool("tta"), TranslateTTA: c.Bool("tta-translate")}
}
