"""After the award: progress reports on a schedule, and the conditions of approval."""
