package cli

import "os"

func osArg0() string {
	if len(os.Args) == 0 {
		return ""
	}
	return os.Args[0]
}
