"""Plans that leave the tool: a saved plan with the problem it was made for, exported with real
dates (CSV, XLSX), compared with another plan, and asked why a unit is late or still open."""
