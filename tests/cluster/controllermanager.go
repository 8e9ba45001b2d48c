package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// The controllers whose behaviour Sluice relies on: ownerReference garbage collection,
// namespace deletion, and the default ServiceAccount in every namespace.
const controllers = "garbage-collector-controller,namespace-controller,serviceaccount-controller"

// withNode: a node runs pods, so every controller (deployments, replica sets, endpoint
// slices, node lifecycle, the root CA publisher...) and pod CIDR allocation are needed.
func startControllerManager(ctx context.Context, kubeconfig string, p *pki, withNode bool) (<-chan error, error) {
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	named := s.Flags(app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases())
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	enabled := controllers
	if withNode {
		enabled = "*"
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--controllers=" + enabled,
		// No serving endpoint: nothing scrapes it, and it would need another port.
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + p.saKey,
		"--root-ca-file=" + p.caCert,
	}
	if withNode {
		args = append(args,
			"--allocate-node-cidrs=true",
			"--cluster-cidr="+podCIDR,
			"--node-cidr-mask-size=24",
			"--service-cluster-ip-range="+serviceCIDR,
			"--cluster-signing-cert-file="+p.caCert,
			"--cluster-signing-key-file="+p.caKey,
		)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	c, err := s.Config(ctx, app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases())
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, c.Complete())
		close(done)
	}()
	return done, nil
}
