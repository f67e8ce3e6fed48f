// Command notaplugin is a test "plugin" that is some other program: it
// prints a line and exits, as a misplaced script in the plugin directory
// would.
package main

import "fmt"

func main() { fmt.Println("Usage: backup.sh [--full]") }
