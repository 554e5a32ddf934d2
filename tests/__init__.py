"""The project's tests: unit, netns and cluster tiers, and their support code."""
