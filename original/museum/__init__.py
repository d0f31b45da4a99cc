"""The museum's machinery around the 2012 release: none of it answers to a 2012 file.

* :mod:`.upstream` — the pin (``original/UPSTREAM.json``) and where the verified copy lives;
* :mod:`.fetch` — fetch the pinned release, check every file against the pin, unpack it;
* :mod:`.annotations` — our line notes, ledger and tour (``original/annotations/``);
* :mod:`.tour_view` — the terminal rendering of the tour;
* :mod:`.cli_fetch`, :mod:`.cli_tour` — ``alexnet original fetch|manifest`` and ``alexnet tour``.

The data these read stays beside the re-creation in ``original/`` (the pin and the notes
are what a visitor opens first); only the code that serves them lives here.
"""
