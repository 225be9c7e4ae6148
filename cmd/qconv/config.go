package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// config is the resolved configuration file plus the environment. It only
// ever fills flags the user did not set: flags beat QCONV_* variables,
// which beat the file.
type config struct {
	v      *viper.Viper
	file   string                      // the file read, "" when none
	getenv func(string) (string, bool) // os.LookupEnv, replaceable in tests
}

// configFileName is looked for in the working directory, then in
// <user config dir>/qconv/.
const configFileName = "qconv.yaml"

// loadConfig reads explicit when given (it must exist), else the first of
// ./qconv.yaml and <user config dir>/qconv/qconv.yaml that exists.
func loadConfig(explicit string) (*config, error) {
	c := &config{v: viper.New(), getenv: os.LookupEnv}
	path := explicit
	if path == "" {
		candidates := []string{configFileName}
		if dir, err := os.UserConfigDir(); err == nil {
			candidates = append(candidates, filepath.Join(dir, "qconv", configFileName))
		}
		for _, p := range candidates {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				path = p
				break
			}
		}
	}
	if path == "" {
		return c, nil
	}
	c.v.SetConfigFile(path)
	if filepath.Ext(path) == "" {
		c.v.SetConfigType("yaml")
	}
	if err := c.v.ReadInConfig(); err != nil {
		var perr *os.PathError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("config file %s: %w", path, perr.Err)
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	c.file = path
	return c, nil
}

// envName is the environment variable for a config key:
// "convert.max-memory" -> QCONV_CONVERT_MAX_MEMORY.
func envName(key string) string {
	return "QCONV_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(key))
}

// apply fills every flag of cmd that was not given on the command line from
// the environment or the file, looking first for a key under the command's
// name and then for the bare flag name.
func (c *config) apply(cmd *cobra.Command) error {
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil {
			return
		}
		switch f.Name {
		case "config", "help", "version":
			return
		}
		keys := []string{cmd.Name() + "." + f.Name, f.Name}
		if val, src, ok := c.lookup(keys); ok {
			if err := setFlag(f, val); err != nil {
				firstErr = withCode(exitUsage, fmt.Errorf("%s: invalid value for --%s: %w", src, f.Name, err))
			}
		}
	})
	return firstErr
}

// lookup returns the value of the first key set in the environment, else
// the first set in the file, with a description of where it came from.
func (c *config) lookup(keys []string) (any, string, bool) {
	for _, k := range keys {
		if v, ok := c.getenv(envName(k)); ok {
			return v, "environment variable " + envName(k), true
		}
	}
	if c.file == "" {
		return nil, "", false
	}
	for _, k := range keys {
		if c.v.IsSet(k) {
			return c.v.Get(k), fmt.Sprintf("config file %s: key %q", c.file, k), true
		}
	}
	return nil, "", false
}

// setFlag sets f from a config value; a list sets a repeatable flag once
// per element.
func setFlag(f *pflag.Flag, val any) error {
	if list, ok := val.([]any); ok {
		for _, e := range list {
			if err := f.Value.Set(fmt.Sprint(e)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := f.Value.Set(fmt.Sprint(val)); err != nil {
		return err
	}
	f.Changed = true
	return nil
}
