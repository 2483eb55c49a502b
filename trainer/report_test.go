package trainer

import "testing"

func TestSeedLogLines(t *testing.T) {
	if got, want := TrainDescription(1.54084, 390, 100*13744.0/40000), "Loss=1.5408 Batch_id=390 Accuracy=34.36"; got != want {
		t.Errorf("TrainDescription = %q, want %q", got, want)
	}
	if got, want := EvalSummary(1.58219, 4131, 10000), "Test set: Average loss: 1.5822, Accuracy: 4131/10000 (41.31%)"; got != want {
		t.Errorf("EvalSummary = %q, want %q", got, want)
	}
}
