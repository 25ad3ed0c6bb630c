"""placeholder (not committed)"""
