-- Every pushed attempt paid for this index (user, question, time, id): with the primary key and the id index, it made a
-- third of the work of storing a pushed page (COPY of 100,000 attempts, median of five: 1.46 s with it, 1.10 s
-- without, on the benchmark machine). It served one reader: refolding a learner's progress for the questions whose
-- attempts arrived out of order. That now reads the learner's attempts through the primary key (user_id, seq) and keeps
-- the questions asked for: for a learner with one deck it reads about as many rows as before; a learner with 100,000
-- attempts across many decks pays a scan of them, tens of milliseconds, on such a sync.
DROP INDEX attempts_by_question;
