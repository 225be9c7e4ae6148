package main

import "github.com/spf13/cobra"

type inspectOptions struct {
	json bool
}

func newInspectCmd(g *globalOptions, s streams) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect PATH",
		Short: "Validate a GGUF or safetensors file and list its metadata and tensors",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object instead of a table")
	return cmd
}
