"""Classifier heads trained on cached features."""
