"""Console HTML pages and actions for every kind of visitor: owner, editor, viewer, outsider
(a user of another project: 404, never a hint) and anonymous (redirected to /login/)."""
