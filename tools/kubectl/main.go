// kubectl for the test cluster and the deploy guide's tests, built from the
// published k8s.io/kubectl module at the control plane's version (./dev install
// puts it in .tools/k8s/bin). k8s.io/kubernetes/cmd/kubectl cannot be built
// outside the Kubernetes tree (its staging replaces), so this is the same entry:
// kubectl's default command, run with component-base's CLI runner.
package main

import (
	"os"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // auth plugins a kubeconfig may name
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) //nolint:errcheck // -v must take effect before the command is built
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
