//! Held-out scores: the confusion matrix, per-class precision/recall/F1 and their macro mean.

use serde::{Deserialize, Serialize};

use crate::mood::Mood;

/// What a model scored on the held-out pets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Unweighted mean of the per-class F1: a rare class counts as much as a common one.
    pub macro_f1: f64,
    pub accuracy: f64,
    pub per_class: Vec<ClassScore>,
    /// `confusion[true][predicted]`, in `Mood::ALL` order.
    pub confusion: Vec<Vec<u32>>,
    /// Held-out clips scored.
    pub clips: usize,
}

/// One class's held-out scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub mood: Mood,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u32,
}

impl Metrics {
    /// Scores `predicted` against `truth` (the same length).
    pub fn score(truth: &[Mood], predicted: &[Mood]) -> Metrics {
        let n = Mood::ALL.len();
        let mut confusion = vec![vec![0u32; n]; n];
        for (t, p) in truth.iter().zip(predicted) {
            confusion[t.index()][p.index()] += 1;
        }
        let per_class: Vec<ClassScore> = Mood::ALL
            .into_iter()
            .map(|mood| {
                let i = mood.index();
                let tp = f64::from(confusion[i][i]);
                let support: u32 = confusion[i].iter().sum();
                let predicted: u32 = confusion.iter().map(|row| row[i]).sum();
                let ratio = |a: f64, b: u32| if b == 0 { 0.0 } else { a / f64::from(b) };
                let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScore {
                    mood,
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        // Classes absent from the held-out set say nothing; the mean is over those present.
        let present: Vec<&ClassScore> = per_class.iter().filter(|c| c.support > 0).collect();
        let macro_f1 = present.iter().map(|c| c.f1).sum::<f64>() / present.len().max(1) as f64;
        let correct: u32 = (0..n).map(|i| confusion[i][i]).sum();
        Metrics {
            macro_f1,
            accuracy: f64::from(correct) / truth.len().max(1) as f64,
            per_class,
            confusion,
            clips: truth.len(),
        }
    }

    /// The scores and confusion matrix as a table for a terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "macro-F1 {:.3}  accuracy {:.3}  ({} held-out clips)\n\n{:>8} {:>9} {:>6} {:>6} {:>7}   confusion (rows true, columns predicted)\n",
            self.macro_f1, self.accuracy, self.clips, "mood", "precision", "recall", "F1", "support"
        );
        for (score, row) in self.per_class.iter().zip(&self.confusion) {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>5}")).collect();
            out += &format!(
                "{:>8} {:>9.3} {:>6.3} {:>6.3} {:>7}   {}\n",
                score.mood.as_str(),
                score.precision,
                score.recall,
                score.f1,
                score.support,
                cells.join("")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_answer_scores_one_and_a_swapped_class_lowers_the_macro_f1() {
        let truth = [Mood::Calm, Mood::Happy, Mood::Sad, Mood::Sad];
        assert_eq!(Metrics::score(&truth, &truth).macro_f1, 1.0);
        let wrong = [Mood::Calm, Mood::Happy, Mood::Angry, Mood::Angry];
        let m = Metrics::score(&truth, &wrong);
        assert!((m.macro_f1 - 2.0 / 3.0).abs() < 1e-9, "{}", m.macro_f1);
        assert_eq!(m.confusion[Mood::Sad.index()][Mood::Angry.index()], 2);
    }
}
