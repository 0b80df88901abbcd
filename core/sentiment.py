"""Sentiment of a rating and its comment, as the seed system kept it: VADER's compound score blended with
the rating, in -1..1."""

from __future__ import annotations

from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def rating_score(rating: int) -> float:
    """1 -> -1.0, 3 -> 0.0, 5 -> 1.0."""
    return (rating - 3) / 2


def sentiment(rating: int, comment: str | None) -> float:
    """The rating alone without a comment; otherwise the mean of the comment's VADER compound and the rating."""
    if not comment or not comment.strip():
        return rating_score(rating)
    compound = float(_analyzer().polarity_scores(comment)["compound"])
    return round((compound + rating_score(rating)) / 2, 4)
