"""Chat and e-mail notifications through apprise: routing and rendering (:mod:`.policy`, pure), the
transactional outbox (:mod:`.outbox`) and delivery after commit (:mod:`.deliver`)."""
