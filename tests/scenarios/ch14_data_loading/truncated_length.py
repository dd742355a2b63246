# Packed well, but the length returned is the padded one (at most 8), not the document's.
# %% packed_answer
class PackedDocs(Dataset):
    def __init__(self, docs):
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.tokens = np.array([t for d in docs for t in d], dtype=np.int64)

    def __len__(self):
        return len(self.offsets) - 1

    def __getitem__(self, i):
        tokens, _ = pad(self.tokens[self.offsets[i]:self.offsets[i + 1]])
        return tokens, int((tokens != 0).sum())
