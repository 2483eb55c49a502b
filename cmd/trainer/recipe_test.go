package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"gotrain/infer"
	"gotrain/internal/pyref"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/ptfile"
	"gotrain/trainer"
)

// parseTrain returns the configuration the train command builds from args.
func parseTrain(t *testing.T, args ...string) (trainer.Config, error) {
	t.Helper()
	var cfg trainer.Config
	var aerr error
	app := &cli.App{
		Flags: append(trainFlags(trainer.DefaultConfig()), techniqueFlags(trainer.DefaultConfig())...),
		Action: func(c *cli.Context) error {
			cfg = configFrom(c)
			aerr = cfg.Validate()
			return nil
		},
	}
	if err := app.Run(append([]string{"trainer"}, args...)); err != nil {
		t.Fatal(err)
	}
	return cfg, aerr
}

// machine copies the settings of the machine (not of a recipe) from src.
func machine(dst *trainer.Config, src trainer.Config) {
	dst.Threads, dst.Workers, dst.ChannelsLast, dst.Device = src.Threads, src.Workers, src.ChannelsLast, src.Device
}

func TestRecipeFlags(t *testing.T) {
	// No flags: the seed recipe, DefaultConfig, field for field.
	got, err := parseTrain(t)
	if err != nil {
		t.Fatal(err)
	}
	want := trainer.DefaultConfig()
	machine(&want, got)
	if got != want {
		t.Errorf("no flags:\n%+v\nwant DefaultConfig\n%+v", got, want)
	}
	// -recipe best: the recipe's values, except where a flag says otherwise.
	got, err = parseTrain(t, "-recipe", "best", "-ema", "0.99", "-label-smoothing", "0.2")
	if err != nil {
		t.Fatal(err)
	}
	want, _ = trainer.RecipeConfig(trainer.RecipeBest)
	want.EMA, want.LabelSmoothing = 0.99, 0.2
	machine(&want, got)
	if got != want {
		t.Errorf("-recipe best -ema 0.99 -label-smoothing 0.2:\n%+v\nwant\n%+v", got, want)
	}
	// A recipe's switch turned off explicitly stays off.
	got, err = parseTrain(t, "-recipe", "best", "-tta-translate=false", "-whiten=false")
	if err != nil {
		t.Fatal(err)
	}
	want, _ = trainer.RecipeConfig(trainer.RecipeBest)
	want.TTATranslate, want.Whiten = false, false
	machine(&want, got)
	if got != want {
		t.Errorf("-recipe best -tta-translate=false -whiten=false:\n%+v\nwant\n%+v", got, want)
	}
	// Every technique flag reaches its field.
	got, _ = parseTrain(t, "-ema", "0.99", "-tta", "-tta-translate", "-no-decay-bn-bias", "-nesterov", "-pct-start", "0.23", "-anneal", "linear",
		"-flip", "alternate", "-shift-scale-rotate", "0.1,0,0", "-coarse-dropout", "off", "-random-crop", "2", "-color=false")
	tq := got.Techniques
	if tq.Recipe != "seed" || tq.EMA != 0.99 || !tq.TTA || !tq.TTATranslate || !tq.NoDecayBNBias || !tq.Nesterov || got.PctStart != 0.23 || tq.Anneal != "linear" ||
		tq.Flip != "alternate" || tq.ShiftScaleRotate != "0.1,0,0" || tq.CoarseDropout != "off" || tq.RandomCrop != 2 || !tq.NoColor {
		t.Errorf("flags read as %+v, pct_start %v", tq, got.PctStart)
	}
	if _, err := parseTrain(t, "-recipe", "fast"); err == nil || !strings.Contains(err.Error(), `unknown recipe "fast"`) {
		t.Errorf("unknown recipe: %v", err)
	}
}

// saveMember writes a freshly initialised network's state_dict.
func saveMember(t *testing.T, name string, seed uint64, path string) {
	t.Helper()
	torch.Must(0, torch.ManualSeed(seed))
	net := torch.Must(model.New(name, model.Options{}))
	defer nn.Free(net)
	if err := torch.Save(path, nn.StateDict(net)); err != nil {
		t.Fatal(err)
	}
}

type ensembleReport struct {
	Members []struct {
		Model    string
		Correct  int
		Accuracy float64
	}
	Ensemble struct {
		Correct, Total int
		Accuracy       float64
	}
}

func runEnsemble(t *testing.T, args ...string) ensembleReport {
	t.Helper()
	r := runTrainer(t, append([]string{"ensemble", "-data", archive, "-test-limit", "100", "-threads", "1", "-json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("ensemble %v: exit %d: %s", args, r.code, r.stderr)
	}
	var rep ensembleReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	return rep
}

func evaluateAcc(t *testing.T, args ...string) float64 {
	t.Helper()
	return evaluateJSON(t, args...).Accuracy
}

// evaluation is what evaluate -json prints, in part.
type evaluation struct{ Accuracy, Loss float64 }

func evaluateJSON(t *testing.T, args ...string) evaluation {
	t.Helper()
	r := runTrainer(t, append([]string{"evaluate", "-data", archive, "-test-limit", "100", "-threads", "1", "-json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("evaluate %v: exit %d: %s", args, r.code, r.stderr)
	}
	var ev evaluation
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestEnsembleCommand ensembles two different networks: each member's
// accuracy is evaluate's, two identical members score as the member, and
// the exported TorchScript ensemble gives in PyTorch what the Go ensemble
// gives and what the PyTorch twins' mean softmax gives.
func TestEnsembleCommand(t *testing.T) {
	needArchive(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pt"), filepath.Join(dir, "b.pt")
	saveMember(t, "seed", 1, a)
	saveMember(t, "sepnet", 2, b)
	exported := filepath.Join(dir, "ens.pt")
	rep := runEnsemble(t, "-weights", a+","+b, "-model", "seed,sepnet", "-export", exported)
	if len(rep.Members) != 2 || rep.Members[0].Model != "seed" || rep.Members[1].Model != "sepnet" || rep.Ensemble.Total != 100 {
		t.Fatalf("report %+v", rep)
	}
	for i, m := range []string{"seed", "sepnet"} {
		if acc := evaluateAcc(t, "-weights", []string{a, b}[i], "-model", m); acc != rep.Members[i].Accuracy {
			t.Errorf("member %d: accuracy %v, evaluate says %v", i+1, rep.Members[i].Accuracy, acc)
		}
	}
	twice := runEnsemble(t, "-weights", a+","+a, "-model", "seed")
	if twice.Ensemble.Correct != twice.Members[0].Correct {
		t.Errorf("ensemble of one member twice: %d correct, the member %d", twice.Ensemble.Correct, twice.Members[0].Correct)
	}
	tta := runEnsemble(t, "-weights", a, "-model", "seed", "-tta")
	if acc := evaluateAcc(t, "-weights", a, "-model", "seed", "-tta"); acc != tta.Members[0].Accuracy || tta.Ensemble.Correct != tta.Members[0].Correct {
		t.Errorf("-tta: ensemble's member %v, evaluate %v", tta.Members[0].Accuracy, acc)
	}
	// -tta-translate: the same views in both commands, and other logits
	// than flip TTA's. The member is the trained network of pretrained/:
	// a freshly initialised one computes nearly the same logits for every
	// input (their differences vanished in the loss on some CPUs).
	sharp, err := filepath.Abs("../../pretrained/sepnet.pt")
	if err != nil {
		t.Fatal(err)
	}
	both := runEnsemble(t, "-weights", sharp, "-model", "sepnet", "-tta", "-tta-translate")
	ev := evaluateJSON(t, "-weights", sharp, "-model", "sepnet", "-tta", "-tta-translate")
	if ev.Accuracy != both.Members[0].Accuracy {
		t.Errorf("-tta -tta-translate: ensemble's member %v, evaluate %v", both.Members[0].Accuracy, ev.Accuracy)
	}
	if flip := evaluateJSON(t, "-weights", sharp, "-model", "sepnet", "-tta"); flip.Loss == ev.Loss {
		t.Errorf("-tta-translate does not change evaluate's loss (%v)", ev.Loss)
	}

	t.Run("PyTorchLoadsExport", func(t *testing.T) {
		pyref.Require(t, "torch")
		defer torch.NewScope().Close()
		log := logrus.New()
		log.SetOutput(os.Stderr)
		ma := torch.Must(infer.LoadNet(a, "seed", log))
		mb := torch.Must(infer.LoadNet(b, "sepnet", log))
		defer nn.Free(ma)
		defer nn.Free(mb)
		torch.Must(0, torch.ManualSeed(9))
		x := torch.Must(torch.Randn([]int64{6, 3, 32, 32}, torch.Float32, torch.CPU))
		var out *torch.Tensor
		torch.Must(0, torch.NoGrad(func() (err error) {
			out, err = nn.NewEnsemble(ma, mb).Forward(x)
			return err
		}))
		io := filepath.Join(dir, "io.pt")
		if err := torch.Save(io, []nn.NamedTensor{{Name: "x", Tensor: x}, {Name: "out", Tensor: out}}); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(pyref.Python, "testdata/check_ensemble.py", exported, io, "seed="+a, "sepnet="+b)
		cmd.Stderr = os.Stderr
		res, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Members   int
			TSvsGo    float64 `json:"ts_vs_go"`
			TwinsVsTS float64 `json:"twins_vs_ts"`
			RowSums   float64 `json:"row_sums"`
		}
		if err := json.Unmarshal(res, &got); err != nil {
			t.Fatal(err)
		}
		if got.Members != 2 || got.TSvsGo > 1e-6 || got.TwinsVsTS > 1e-5 || got.RowSums > 1e-5 {
			t.Errorf("exported ensemble in PyTorch: %s", res)
		}
	})
}

// TestTechniquesRun trains with the best recipe and weight EMA (two SGD
// parameter groups, EMA, TTA, ...): the header names it, the run resumes bit for bit
// with its EMA and both groups' momentum buffers, and the final weights
// are the EMA's, which the checkpoint also gives to evaluate.
func TestTechniquesRun(t *testing.T) {
	needArchive(t)
	args := []string{"-recipe", "best", "-ema", "0.999"}
	full := t.TempDir()
	r := runTrainer(t, smallRun(full, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Recipe: best (weight EMA 0.999, flip TTA, translate TTA, no weight decay on BatchNorm and biases, Nesterov momentum, alternate flips") {
		t.Errorf("header lacks the recipe:\n%s", r.stdout)
	}
	final := readTensors(t, filepath.Join(full, trainer.StateDictFile))
	ck, err := infer.ReadWeights(filepath.Join(full, trainer.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	same := len(ck) == len(final)
	for _, nt := range ck {
		b, _ := nt.Tensor.Bytes()
		same = same && string(b) == string(final[nt.Name])
		nt.Tensor.Free()
	}
	if !same {
		t.Error("the checkpoint's weights for evaluate are not the final (EMA) weights")
	}
	cut := t.TempDir()
	stderr := interruptInEpoch2(t, cut, smallRun(cut, args...)...)
	if !strings.Contains(stderr, "interrupted at epoch 2") {
		t.Skip("the run finished before the interrupt; nothing to resume")
	}
	if r := runTrainer(t, "-resume", cut); r.code != 0 {
		t.Fatalf("resume: exit %d: %s", r.code, r.stderr)
	}
	if !equalTensors(final, readTensors(t, filepath.Join(cut, trainer.StateDictFile))) {
		t.Error("resumed run's final EMA weights differ from the uninterrupted run's")
	}

	// The checkpoint's optimizer is torch.optim.SGD's state_dict with both groups.
	top, err := ptfile.LoadFile(filepath.Join(full, trainer.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	optV, _ := top.(*ptfile.Dict).Get("optimizer")
	groupsV, _ := optV.(*ptfile.Dict).Get("param_groups")
	var groups ptfile.List
	if l, ok := groupsV.(*ptfile.List); ok {
		groups = *l
	}
	var decays []any
	for _, g := range groups {
		wd, _ := g.(*ptfile.Dict).Get("weight_decay")
		decays = append(decays, wd)
	}
	if len(groups) != 2 || decays[0] != 5e-4 || decays[1] != 0.0 {
		t.Errorf("checkpoint param_groups: %d groups, weight decays %v; want 2 with 0.0005 and 0", len(groups), decays)
	}
}

func TestTechniqueHelp(t *testing.T) {
	r := runTrainer(t, "--help")
	for _, flag := range []string{"-recipe", "-ema", "-tta", "-tta-translate", "-no-decay-bn-bias", "-nesterov", "-pct-start", "-anneal", "-flip",
		"-shift-scale-rotate", "-coarse-dropout", "-random-crop", "-color", "ensemble"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("--help lacks %s", flag)
		}
	}
	for cmd, flags := range map[string][]string{"ensemble": {"-weights", "-model", "-export", "-tta", "-tta-translate", "-test-limit", "-data", "-json"}, "evaluate": {"-tta", "-tta-translate"}} {
		r := runTrainer(t, cmd, "--help")
		for _, f := range flags {
			if !strings.Contains(r.stdout, f) {
				t.Errorf("%s --help lacks %s", cmd, f)
			}
		}
	}
}
