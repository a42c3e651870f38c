return "outside the recipe folder"
