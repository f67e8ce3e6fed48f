package snmp

import _ "embed"

// SampleConfig is a commented example of the `snmp:` section; the agent
// prints it with `schulmon-agent snmp sample-config`.
//
//go:embed sample.yaml
var SampleConfig string
