//go:build !windows

package main

// osNeedsPrivileged: Linux and macOS have unprivileged ICMP sockets.
const osNeedsPrivileged = false

// fixHint says how to allow pinging on this operating system.
const fixHint = "Allow unprivileged ping for the agent's group with " +
	"`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (persist it in /etc/sysctl.d/), " +
	"or give the plugin raw sockets with `setcap cap_net_raw+ep schulmon-plugin-ping`, " +
	"or check the host with the tcp plugin instead"
