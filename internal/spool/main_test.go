package spool

import (
	"fmt"
	"os"
	"testing"
)

// lockHolderEnv makes the test binary a process that opens the spool dir
// it names, says "locked" and waits to be killed (TestLockGoesWithProcess).
const lockHolderEnv = "S3MOUNT_SPOOL_LOCK_HOLDER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockHolderEnv); dir != "" {
		if _, _, err := Open(dir, testIdentity, Options{}); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		select {}
	}
	os.Exit(m.Run())
}
