"""The staff dashboard: figures and charts across applications, loans and the ledger.

Like loanproject.demo it sits above every app, so it may read all of them (through their
selectors); no app imports it."""
