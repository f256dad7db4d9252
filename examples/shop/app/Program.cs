Console.Error.WriteLine("usage: shop web|catalog|ratings|loadgen");
return 2;
