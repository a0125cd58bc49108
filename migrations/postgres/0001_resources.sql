-- The store revision: one row, bumped in the same transaction as every write. Gateways poll it
-- and reload their snapshot when it moves.
CREATE TABLE gatehouse_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO gatehouse_revision (id, revision) VALUES (1, 0);

-- Every tenant resource as its normalised JSON document. `vcluster` is '' for kinds that are
-- not scoped to a virtual cluster. Rules between resources (prefix overlaps, references,
-- unique external names) are checked by the gateway under the revision row's lock.
CREATE TABLE gatehouse_resources (
    kind TEXT NOT NULL,
    vcluster TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    revision BIGINT NOT NULL,
    PRIMARY KEY (kind, vcluster, name)
);
