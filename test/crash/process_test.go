//go:build integration

package crash

import "github.com/tenancy-dev/tenancy/internal/controller/process"

// controllerProcess is `tenancy controller` as a child process that can be
// SIGKILLed and started again; the provisioning benchmark runs it the same
// way.
type controllerProcess = process.Controller
