// Package staffing sizes the on-site administrator demand of schools and
// municipal administrations: full-time equivalents (FTE), person-days and
// annual cost per site, per municipality and in total, under several
// published sizing methods side by side (device ratio, school type,
// weighted device classes, measured workload), with what-if scenarios that
// never touch the stored inventory.
//
// The package has three layers:
//
//   - the inventory: device records per site from every source (agents,
//     SNMP-polled devices, end devices discovered in switch ARP/bridge
//     tables, CSV imports), deduplicated by MAC address, serial number and
//     hostname, with the provenance of every count (inventory.go, csv.go);
//   - the model: methods and parameters (params.go), computed into a Report
//     in which every figure names the method and parameters that produced
//     it (model.go), scenarios (scenario.go), output formats (format.go);
//   - persistence and wiring: its own SQLite tables (store.go), an ingest
//     observer recording discovered endpoints (observer.go), HTTP handlers
//     (http.go).
//
// The pure model needs no database: build an Inventory with an
// InventoryBuilder and call Compute.
package staffing
