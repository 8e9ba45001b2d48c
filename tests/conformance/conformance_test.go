// The upstream Gateway API conformance suite, unmodified, against Sluice. `make conformance`
// builds this into a test binary and runs it inside the network namespace of a real
// single-node cluster with Sluice installed (tests/src/bin/sluice-conformance.rs), where the
// Gateways' addresses are reachable. What it claims (GatewayClass, profiles, features) is in
// options.yaml, which the runner passes with -conformance-options-file.
package conformance

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

func TestConformance(t *testing.T) {
	conformance.RunConformance(t)
}
