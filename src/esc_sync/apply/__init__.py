"""Applying plans: the only code that writes a plan to a helpdesk and records it.

`applier` (intent, write, record; one loop for conflicts), `bulk` (the same in asynchronous
jobs), `recovery` (intents a crash left open), `recorder` (audit lines, report rows, dead
letters), `results` (what a cycle reports).
"""
