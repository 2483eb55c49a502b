package trainer

import "fmt"

// TrainDescription formats the seed project's per-batch description,
// e.g. "Loss=1.5408 Batch_id=390 Accuracy=34.36", with accuracy in percent.
func TrainDescription(loss float64, batchID int, accuracy float64) string {
	return fmt.Sprintf("Loss=%.4f Batch_id=%d Accuracy=%.2f", loss, batchID, accuracy)
}

// EvalSummary formats the seed project's evaluation line, e.g.
// "Test set: Average loss: 1.5822, Accuracy: 4131/10000 (41.31%)".
func EvalSummary(loss float64, correct, total int) string {
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(correct) / float64(total)
	}
	return fmt.Sprintf("Test set: Average loss: %.4f, Accuracy: %d/%d (%.2f%%)", loss, correct, total, pct)
}
