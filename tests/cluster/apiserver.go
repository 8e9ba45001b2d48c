package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

type apiServerConfig struct {
	listener      net.Listener
	port          int
	pki           *pki
	etcdURL       string
	nodePortRange string
	certDir       string
	node          *nodePKI // set when a node runs: it changes how the server is reached and authorizes
}

// startAPIServer runs kube-apiserver in this process through its options (not its cobra
// command, which installs a process-wide signal handler). The returned channel yields
// when the server stops.
func startAPIServer(ctx context.Context, c apiServerConfig) (<-chan error, error) {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.port),
		// Without it the server derives an address from the default route, which a
		// sandbox may not have; loopback is refused, so use a documentation address.
		"--advertise-address=192.0.2.10",
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + c.certDir,
		"--tls-cert-file=" + c.pki.servingCert,
		"--tls-private-key-file=" + c.pki.servingKey,
		"--client-ca-file=" + c.pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + c.pki.saPub,
		"--service-account-signing-key-file=" + c.pki.saKey,
		"--service-cluster-ip-range=10.0.0.0/16",
		"--service-node-port-range=" + c.nodePortRange,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// Nothing here runs pods; the default priority-and-fairness limits only get in the
		// way of tests that create thousands of objects.
		"--enable-priority-and-fairness=false",
		"--max-requests-inflight=2000",
		"--max-mutating-requests-inflight=1000",
	}
	if c.node != nil {
		args = withNodeArgs(args, c.node, c.pki)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("flags %s: %w", strings.Join(args, " "), err)
	}
	s.SecureServing.Listener = c.listener
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	// kube-apiserver's loopback clients should not log warnings about themselves.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, utilerrors.NewAggregate(errs)
	}
	config, err := app.NewConfig(completed)
	if err != nil {
		return nil, err
	}
	completedConfig, err := config.Complete()
	if err != nil {
		return nil, err
	}
	server, err := app.CreateServerChain(completedConfig)
	if err != nil {
		return nil, err
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() {
		done <- prepared.Run(ctx)
		close(done)
	}()
	return done, nil
}

// withNodeArgs turns the loopback-only server into one a node and its pods use: it listens
// on the node's address (inside the node's network namespace) and advertises it, so the
// `kubernetes` Service leads pods to it; kubelets are authorized by the Node authorizer, and
// the server calls kubelets with a client certificate and checks theirs.
func withNodeArgs(args []string, n *nodePKI, p *pki) []string {
	replace := map[string]string{
		"--bind-address":             "0.0.0.0",
		"--advertise-address":        nodeIPString,
		"--endpoint-reconciler-type": "lease",
		"--authorization-mode":       "Node,RBAC",
	}
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if v, ok := replace[name]; ok {
			a = name + "=" + v
		}
		out = append(out, a)
	}
	return append(out,
		"--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate="+n.apiserverKubeletCert,
		"--kubelet-client-key="+n.apiserverKubeletKey,
		"--kubelet-certificate-authority="+p.caCert,
		"--kubelet-preferred-address-types=InternalIP",
	)
}
