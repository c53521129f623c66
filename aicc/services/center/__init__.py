"""The center as its operators run it: power, draining nodes, backups, what pages show at a
glance, and the faces' handle on the control loops."""
