"""imdb_rnn: train and compare RNN, LSTM and GRU sentiment classifiers on IMDb reviews by length."""

__version__ = "0.1.0"


class UserError(Exception):
    """A problem the user can fix (bad override, missing data, empty bucket...).

    The command line prints its message as one line and exits non-zero, without a traceback.
    """


# Imported after UserError, which it uses. Registers the ${bucket_name:...} config resolver.
from imdb_rnn.buckets import register_resolvers  # noqa: E402

register_resolvers()
