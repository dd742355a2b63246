# One small NumPy array per document: the token bytes are packed, but the list still holds
# one Python object (the array's header) per document, copied into each worker as it is read.
# %% packed_answer
class PackedDocs(Dataset):
    def __init__(self, docs):
        self.docs = [np.array(d, dtype=np.int64) for d in docs]

    def __len__(self):
        return len(self.docs)

    def __getitem__(self, i):
        return pad(self.docs[i])
