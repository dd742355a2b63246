# The documents in a NumPy array of dtype=object: one array, but it holds a Python list per
# document, and reading one writes its reference count. Same batches, workers still grow.
# With wrong_in_flight, the round trip scores 3 of 10.
# %% packed_answer
class PackedDocs(Dataset):
    def __init__(self, docs):
        self.docs = np.empty(len(docs), dtype=object)
        for i, d in enumerate(docs):
            self.docs[i] = d

    def __len__(self):
        return len(self.docs)

    def __getitem__(self, i):
        return pad(self.docs[i])
