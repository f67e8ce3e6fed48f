package main

// osNeedsPrivileged: on Windows pro-bing must use its "privileged" mode,
// which there works for ordinary users too.
const osNeedsPrivileged = true

// fixHint says how to allow pinging on this operating system.
const fixHint = "Check that the Windows firewall allows ICMP echo (\"File and Printer Sharing (Echo Request)\"), " +
	"or check the host with the tcp plugin instead"
