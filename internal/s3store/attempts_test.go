package s3store

import "testing"

func TestMaxAttemptsFromEnvironment(t *testing.T) {
	for v, want := range map[string]int{"3": 3, "1": 1, "": defaultMaxAttempts, "0": defaultMaxAttempts, "-2": defaultMaxAttempts, "many": defaultMaxAttempts} {
		t.Setenv("AWS_MAX_ATTEMPTS", v)
		if got := envMaxAttempts(); got != want {
			t.Errorf("AWS_MAX_ATTEMPTS=%q: %d attempts, want %d", v, got, want)
		}
	}
}
