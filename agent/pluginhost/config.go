package pluginhost

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Config is the agent's `plugins:` section.
//
//	plugins:
//	  dir: /usr/lib/schulmon/plugins
//	  instances:
//	    - name: lernplattform
//	      plugin: http
//	      interval: 60s
//	      timeout: 10s
//	      sha256: 9f86d0…   # optional pin of the plugin executable
//	      device: moodle
//	      class: server
//	      config:
//	        url: https://moodle.schule.example/login/index.php
//	        contains: Moodle
type Config struct {
	// Dir holds the plugin executables, named schulmon-plugin-<plugin>
	// (with .exe on Windows) or just <plugin>.
	Dir       string     `yaml:"dir"`
	Instances []Instance `yaml:"instances"`
	// RestartBackoff is the first wait before a crashed, hung or failed
	// plugin is started again; it doubles with every failure in a row up to
	// RestartBackoffMax and resets after a successful check.
	RestartBackoff    time.Duration `yaml:"restart_backoff"`
	RestartBackoffMax time.Duration `yaml:"restart_backoff_max"`
	// StartTimeout bounds a plugin's start: exec and handshake. It is
	// separate from the instance timeouts because starting a program on a
	// busy school server can take longer than a check may.
	StartTimeout time.Duration `yaml:"start_timeout"`
}

// Instance is one configured check: a plugin with its own configuration,
// interval and timeout, running in its own plugin process.
type Instance struct {
	Name     string        `yaml:"name"`     // the check tag; unique
	Plugin   string        `yaml:"plugin"`   // e.g. http, tcp, ping, dns
	Interval time.Duration `yaml:"interval"` // default 60s
	Timeout  time.Duration `yaml:"timeout"`  // every call to the plugin; default 10s, at most the interval
	SHA256   string        `yaml:"sha256"`   // optional hex SHA-256 of the executable
	// Device and Class name the device the check is about (the device and
	// class tags). Without Device the check is about the agent's own host.
	Device string         `yaml:"device"`
	Class  string         `yaml:"class"`
	Config map[string]any `yaml:"config"` // handed to the plugin as JSON
}

// Defaults.
const (
	DefaultInterval          = 60 * time.Second
	DefaultTimeout           = 10 * time.Second
	DefaultRestartBackoff    = time.Second
	DefaultRestartBackoffMax = 5 * time.Minute
	DefaultStartTimeout      = 30 * time.Second
)

var (
	validName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	validClass = map[string]bool{"server": true, "switch": true, "access_point": true, "router": true,
		"printer": true, "ups": true, "endpoint": true, "display": true, "other": true}
)

// withDefaults returns a copy with defaults filled in.
func (c Config) withDefaults() Config {
	if c.RestartBackoff <= 0 {
		c.RestartBackoff = DefaultRestartBackoff
	}
	if c.RestartBackoffMax <= 0 {
		c.RestartBackoffMax = DefaultRestartBackoffMax
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.RestartBackoffMax < c.RestartBackoff {
		c.RestartBackoffMax = c.RestartBackoff
	}
	inst := make([]Instance, len(c.Instances))
	copy(inst, c.Instances)
	for i := range inst {
		if inst[i].Interval <= 0 {
			inst[i].Interval = DefaultInterval
		}
		if inst[i].Timeout <= 0 {
			inst[i].Timeout = min(DefaultTimeout, inst[i].Interval)
		}
		if inst[i].Device != "" && inst[i].Class == "" {
			inst[i].Class = "other"
		}
		inst[i].SHA256 = strings.ToLower(strings.TrimSpace(inst[i].SHA256))
	}
	c.Instances = inst
	return c
}

// Validate reports every configuration mistake at once, each with the
// instance it is in and what to write instead.
func (c Config) Validate() error {
	var errs []error
	if len(c.Instances) > 0 && c.Dir == "" {
		errs = append(errs, errors.New("plugins.dir: missing; set it to the directory holding the plugin executables (e.g. /usr/lib/schulmon/plugins)"))
	}
	seen := map[string]bool{}
	for i, in := range c.Instances {
		where := fmt.Sprintf("plugins.instances[%d]", i)
		if in.Name != "" {
			where = fmt.Sprintf("plugins.instances[%d] (%s)", i, in.Name)
		}
		switch {
		case in.Name == "":
			errs = append(errs, fmt.Errorf("%s: name missing; every instance needs a unique name (it becomes the check tag)", where))
		case !validName.MatchString(in.Name):
			errs = append(errs, fmt.Errorf("%s: name %q: use letters, digits, '.', '_' and '-'", where, in.Name))
		case seen[in.Name]:
			errs = append(errs, fmt.Errorf("%s: name %q used twice; instance names must be unique", where, in.Name))
		}
		seen[in.Name] = true
		if in.Plugin == "" {
			errs = append(errs, fmt.Errorf("%s: plugin missing (e.g. http, tcp, ping, dns)", where))
		} else if !validName.MatchString(in.Plugin) {
			errs = append(errs, fmt.Errorf("%s: plugin %q: give the plugin's name, not a path; executables are looked up in plugins.dir", where, in.Plugin))
		}
		if in.Interval < 0 || (in.Interval > 0 && in.Interval < time.Second) {
			errs = append(errs, fmt.Errorf("%s: interval %s: want at least 1s", where, in.Interval))
		}
		if in.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s: timeout %s: want a positive duration", where, in.Timeout))
		}
		iv := in.Interval
		if iv <= 0 {
			iv = DefaultInterval
		}
		if in.Timeout > iv {
			errs = append(errs, fmt.Errorf("%s: timeout %s is longer than the interval %s; make it shorter", where, in.Timeout, iv))
		}
		if s := strings.TrimSpace(in.SHA256); s != "" {
			if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
				errs = append(errs, fmt.Errorf("%s: sha256 %q: want 64 hex digits (sha256sum of the plugin executable)", where, s))
			}
		}
		if in.Class != "" && !validClass[in.Class] {
			errs = append(errs, fmt.Errorf("%s: class %q: want one of server, switch, access_point, router, printer, ups, endpoint, display, other", where, in.Class))
		}
		if _, err := json.Marshal(in.Config); err != nil {
			errs = append(errs, fmt.Errorf("%s: config cannot be passed to the plugin: %v", where, err))
		}
	}
	if c.RestartBackoff < 0 || c.RestartBackoffMax < 0 || c.StartTimeout < 0 {
		errs = append(errs, errors.New("plugins.restart_backoff, restart_backoff_max, start_timeout: want positive durations"))
	}
	return errors.Join(errs...)
}
