package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"gotrain/infer"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
)

func ensembleCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{
		Name:  "ensemble",
		Usage: "test the average of several networks' softmax outputs; optionally export it as one TorchScript module",
		UsageText: "trainer ensemble -weights A,B,C [-model M | -model MA,MB,MC] [-data PATH] [-test-limit N] [-tta] [-tta-translate] [-export OUT.pt] [-json]\n\n" +
			"Each member is a checkpoint, state_dict or TorchScript file (Go- or PyTorch-trained); members may be different networks.\n" +
			"The ensemble's output is mean(softmax(member(x), dim=1)); with -tta (-tta-translate) each member's logits are averaged\n" +
			"over the image's mirror (shifted) views first. -export writes the ensemble (without TTA) as one TorchScript module whose submodules \"0\", \"1\", ...\n" +
			"are the members and whose forward returns the mean of their softmaxes.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "weights", Aliases: []string{"w"}, Usage: "comma-separated weights files of the members (required)"},
			&cli.StringFlag{Name: "model", Usage: "network of the members: one name for all, or one per member, comma-separated (default: a checkpoint's own, else " + model.Default + ")"},
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "auto, cpu, cuda or cuda:N"},
			threadsFlag(),
		}, append(evalFlags(),
			&cli.StringFlag{Name: "export", Usage: "also write the ensemble as a TorchScript file (torch.jit.load)"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		)...),
		Action: func(c *cli.Context) error { return ensembleAction(c, log) },
	}
}

// memberResult is one line of the ensemble command's report.
type memberResult struct {
	Weights  string  `json:"weights"`
	Model    string  `json:"model"`
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
	Accuracy float64 `json:"accuracy"`
}

func ensembleAction(c *cli.Context, log *logrus.Logger) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if err := requireFlags(c, "weights"); err != nil {
		return err
	}
	paths := strings.Split(c.String("weights"), ",")
	names := make([]string, len(paths))
	if m := c.String("model"); m != "" {
		given := strings.Split(m, ",")
		switch len(given) {
		case 1:
			for i := range names {
				names[i] = given[0]
			}
		case len(paths):
			copy(names, given)
		default:
			return usagef("ensemble: %d -model names for %d members: give one for all or one per member", len(given), len(paths))
		}
	}
	workers := intOr(c, "workers", torch.DeviceDefaultsFor(c.String("device")).Workers)
	threads := intOr(c, "threads", torch.DeviceDefaultsFor(c.String("device")).Threads)
	if c.Int("batch-size") < 1 || c.Int("test-limit") < 0 || workers < 1 || threads < 1 {
		return usagef("ensemble: batch size, threads and workers must be positive and the test limit not negative")
	}
	torch.SetNumThreads(threads)
	dev, err := torch.ResolveDevice(c.String("device"))
	if err != nil {
		return usageError{err}
	}
	var members []*model.Net
	defer func() {
		for _, m := range members {
			nn.Free(m)
		}
	}()
	for i, p := range paths {
		if p == "" {
			return usagef("ensemble: member %d of -weights is empty", i+1)
		}
		net, err := infer.LoadNet(p, names[i], log)
		if err != nil {
			return fmt.Errorf("ensemble member %d: %w", i+1, err)
		}
		members = append(members, net)
		if err := nn.To(net, dev); err != nil {
			return err
		}
	}
	mods := make([]nn.Module, len(members))
	for i, m := range members {
		mods[i] = m
	}
	ens := nn.NewEnsemble(mods...)
	if out := c.String("export"); out != "" {
		if dir := filepath.Dir(out); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("ensemble: output folder for %s: %w", out, err)
			}
		}
		if err := nn.SaveTorchScript(out, ens); err != nil {
			return err
		}
		log.Infof("wrote %s (TorchScript ensemble of %d members)", out, len(members))
	}
	l, err := testLoader(c, workers, log)
	if err != nil {
		return err
	}
	defer l.Close()
	ev, err := infer.EvaluateEnsemble(ens, l, dev, evalOptions(c))
	if err != nil {
		return err
	}
	report := make([]memberResult, len(members))
	for i, m := range members {
		e := ev.Members[i]
		report[i] = memberResult{Weights: paths[i], Model: m.Name, Correct: e.Correct, Total: e.Total, Accuracy: percent(e.Correct, e.Total)}
	}
	ensCorrect, total := ev.Ensemble.Correct, ev.Ensemble.Total
	if c.Bool("json") {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{
			"members": report, "tta": c.Bool("tta"), "tta_translate": c.Bool("tta-translate"),
			"ensemble": map[string]any{"correct": ensCorrect, "total": total, "accuracy": percent(ensCorrect, total)},
		})
	}
	for i, r := range report {
		fmt.Printf("member %d: %s (%s): accuracy %d/%d (%.2f%%)\n", i+1, r.Weights, r.Model, r.Correct, r.Total, r.Accuracy)
	}
	fmt.Printf("ensemble of %d: accuracy %d/%d (%.2f%%)\n", len(members), ensCorrect, total, percent(ensCorrect, total))
	return nil
}

func percent(n, total int) float64 { return 100 * float64(n) / float64(max(total, 1)) }
