"""The business portal: locations, areas, posters, live counts, staff, releases."""
