"""Operations that change campaign data. Import from the submodules:

- ``studies``: a campaign's rules and life (save, open, pause, close), and its study at Prolific
- ``admission``: a participant's way through a session: admit, consent, finish (completion, screen-out)
- ``sessions``: the annotator's work scope of a participant (kinds, splits, quota), a session's end and figures
- ``statuses``: the marketplace's word on a submission (returned, timed out, approved...), from webhooks or polling
- ``webhooks``: Prolific's signed events, checked, de-duplicated and applied once
- ``ledger``: money and rejections, written before the marketplace is called, sent and reconciled
- ``bonuses``: bonus rules, previewed with their total, then paid through the ledger
- ``sync``: polling (the webhooks' fallback), participant groups, the marketplace's health
- ``reconciliation``: the ledger against the marketplace's submissions, as a report of differences
"""
